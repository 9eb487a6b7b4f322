#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks (example project)."""

import os
import sys


def main() -> None:
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example.settings")
    try:
        from django.core.management import execute_from_command_line
    except ImportError as exc:
        raise ImportError(
            "Couldn't import Django. Are you running inside the example "
            "virtualenv? Try `python3 run.py example`."
        ) from exc
    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
