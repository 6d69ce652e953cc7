"""``grokcheck --help`` and ``--version`` must not import heavy packages, so they start fast."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sympy", "scipy", "matplotlib", "dask")


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from grokcheck.cli import main\n"
        "for args in (['--help'], ['--version'], ['theorem', '--help'], ['verify', '--help']):\n"
        "    try:\n"
        "        main(args)\n"
        "    except SystemExit:\n"
        "        pass\n"
        f"print('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "HEAVY:"


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "grokcheck", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "grokcheck" in out.stdout
