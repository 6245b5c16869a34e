#!/usr/bin/env python3
"""Build the Python Taobao connector into target/plugins/taobao-python/.

Steps, all relative to the workspace root:
1. Create the virtualenv target/python-venv if it is missing, and install the pinned
   componentize-py into it unless that version is already there.
2. Generate Python bindings of the connector world into target/python-bindings/taobao-python,
   then run the unit tests of test_app.py against them with the host's Python.
3. Copy app.py to target/python-build/taobao-python, run `componentize-py componentize` on
   that copy and copy plugin.toml beside the component.

Usage: python3 plugins/taobao-python/build.py [--skip-tests]
"""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

# NOTE: 0.25.1 is the newest release on PyPI at the time of writing. Its components load in
# the wasmtime 48 host of this workspace; check that again before moving the pin.
COMPONENTIZE_PY_VERSION = "0.25.1"
WORLD = "connector"
PLUGIN_ID = "taobao-python"

PLUGIN_DIR = Path(__file__).resolve().parent
ROOT = PLUGIN_DIR.parents[1]
WIT_DIR = ROOT / "sdk" / "wit" / "connector@0.1.0"
VENV_DIR = ROOT / "target" / "python-venv"
BINDINGS_DIR = ROOT / "target" / "python-bindings" / PLUGIN_ID
STAGING_DIR = ROOT / "target" / "python-build" / PLUGIN_ID
OUTPUT_DIR = ROOT / "target" / "plugins" / PLUGIN_ID


def run(command, **options):
    """Run a command from the workspace root, echoing it, and exit when it fails."""
    print("+", " ".join(str(part) for part in command), flush=True)
    result = subprocess.run(command, cwd=ROOT, **options)
    if result.returncode != 0:
        sys.exit(f"build.py: {command[0]} failed with exit code {result.returncode}")


def venv_tool(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    return VENV_DIR / folder / name


def installed_version() -> str:
    """Return the componentize-py version in the virtualenv, or "" when there is none."""
    tool = venv_tool("componentize-py")
    if not tool.exists():
        return ""
    output = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
    # The output is "componentize-py 0.25.1".
    return output.split()[-1] if output.strip() else ""


def ensure_componentize_py() -> Path:
    if not venv_tool("python").exists():
        run([sys.executable, "-m", "venv", VENV_DIR])
    if installed_version() != COMPONENTIZE_PY_VERSION:
        run([venv_tool("python"), "-m", "pip", "install", "--quiet",
             f"componentize-py=={COMPONENTIZE_PY_VERSION}"])
    return venv_tool("componentize-py")


def generate_bindings(componentize_py: Path) -> None:
    shutil.rmtree(BINDINGS_DIR, ignore_errors=True)
    run([componentize_py, "-d", WIT_DIR, "-w", WORLD, "bindings", BINDINGS_DIR])


def run_tests() -> None:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(BINDINGS_DIR), str(PLUGIN_DIR)]),
        PYTHONDONTWRITEBYTECODE="1",
    )
    run([venv_tool("python"), "-m", "unittest", "-q", "test_app"], env=env)


def componentize(componentize_py: Path) -> Path:
    # componentize-py imports the app while it builds and writes app's __pycache__ beside it,
    # so it runs on a copy of app.py alone. That also keeps test_app.py out of its Python path.
    shutil.rmtree(STAGING_DIR, ignore_errors=True)
    STAGING_DIR.mkdir(parents=True)
    shutil.copyfile(PLUGIN_DIR / "app.py", STAGING_DIR / "app.py")

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    component = OUTPUT_DIR / "plugin.wasm"
    run([componentize_py, "-d", WIT_DIR, "-w", WORLD, "componentize", "-p", STAGING_DIR,
         "app", "-o", component])
    shutil.copyfile(PLUGIN_DIR / "plugin.toml", OUTPUT_DIR / "plugin.toml")
    return component


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-tests", action="store_true", help="do not run test_app.py")
    args = parser.parse_args()

    started = time.monotonic()
    componentize_py = ensure_componentize_py()
    generate_bindings(componentize_py)
    if not args.skip_tests:
        run_tests()
    component = componentize(componentize_py)
    size_mib = component.stat().st_size / (1024 * 1024)
    elapsed = time.monotonic() - started
    print(f"build.py: wrote {component} ({size_mib:.1f} MiB) in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
