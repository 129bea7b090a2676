"""Entry script of the frozen Backstep app (PyInstaller): the same as ``clinic-app``."""

from __future__ import annotations

import multiprocessing

from clinic_app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    main()
