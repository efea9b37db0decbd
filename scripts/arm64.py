#!/usr/bin/env python3
"""An emulated Raspberry Pi (arm64 Debian user space under qemu-user) for the device suite.

    python3 scripts/arm64.py python RUNTIME [--suite bookworm|trixie] [--cpu cortex-a72|cortex-a76]
        build what is missing, then print the path of an executable that runs the emulated
        Python with RUNTIME (litert or tflite-runtime) and this checkout's edge_forecast on its
        path (use it as `export --probe-python`, or run anything with it: PATH -m pytest ...).
    python3 scripts/arm64.py run RUNTIME [...] -- ARGS...     the same, and run it with ARGS.

Recipe and pitfalls (docs/guide/device-and-raspberry-pi.md, the emulated Pi):
- the root is unpacked, not configured (`mmdebstrap --variant=extract`): no emulated dpkg runs;
- aarch64 wheels are installed by the host's pip into a target folder (one per suite x runtime:
  ai-edge-litert with numpy 2, tflite-runtime with numpy < 2), resolved from this checkout's
  extras (`.[litert]`, `.[tflite-runtime]`), so the install of the device extra itself is tested;
- qemu 7.2 shows the guest the host's x86 /proc/cpuinfo and ai-edge-litert's cpuinfo parser
  then crashes: an ARM cpuinfo is bind-mounted over it in a private mount namespace (root);
- qemu's default CPU (`max`, with SME) makes litert's int8 kernels return wrong numbers: a real
  Pi CPU is always named (Cortex-A72 = Pi 4, Cortex-A76 = Pi 5).

Needs root, and `apt-get install qemu-user-static mmdebstrap arch-test` (done here when missing
and running as root).
Standard output carries exactly one line, the path (`python`): callers read it with $(...). Every
set-up step (apt-get, mmdebstrap, pip) writes to standard error, and so does anything else this
process or its children print (fd 1 is pointed at fd 2 until the path is written). A step that
fails ends the script with one line naming the step and what to install. Everything is cached
under $EDGE_FORECAST_ARM64_CACHE (default
~/.cache/edge-forecast/arm64), keyed by what it holds; each piece is built in a temporary
directory and renamed into place, so an interrupted build is rebuilt next time.
The wrapper execs down to qemu, so a crash in the guest reaches the caller as the signal itself.
It is also the guest's sys.executable (qemu -0): without binfmt_misc the host kernel cannot exec an
aarch64 binary, but it can exec this script, so a child Python of the guest is emulated as well.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("EDGE_FORECAST_ARM64_CACHE", Path.home() / ".cache" / "edge-forecast" / "arm64"))
SUITES = {"bookworm": "3.11", "trixie": "3.13"}  # Raspberry Pi OS 12 / 13 and their Python
RUNTIMES = {"litert": "litert", "tflite-runtime": "tflite-runtime"}  # runtime -> the project's extra
CPUS = {"cortex-a72": "0xd08", "cortex-a76": "0xd0b"}  # Pi 4, Pi 5: ARM part numbers for cpuinfo
# manylinux tags an aarch64 Debian 12 / 13 accepts (tflite-runtime needs 2_34, litert 2_27;
# `manylinux2014` alone finds nothing)
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_27_aarch64", "manylinux_2_28_aarch64",
             "manylinux_2_31_aarch64", "manylinux_2_34_aarch64", "manylinux_2_36_aarch64")
# what the device suite needs beyond the extra (pure Python)
TEST_REQUIREMENTS = ("pytest>=8,<10",)
APT_PACKAGES = ("qemu-user-static", "mmdebstrap", "arch-test")
ROOT_PACKAGES = "python3,libstdc++6"


def log(text: str) -> None:
    print(f"arm64: {text}", file=sys.stderr, flush=True)


class SetupError(Exception):
    """A set-up step failed: the message is the one line the user reads."""


def setup_step(what: str, hint: str, cmd: list[str], **kwargs) -> None:
    """Run one set-up command with its output on stderr; a failure is one line naming the step."""
    start = time.monotonic()
    try:
        done = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=sys.stderr, stderr=sys.stderr, **kwargs)
    except OSError as exc:
        raise SetupError(f"{what}: cannot run {cmd[0]} ({exc.strerror}); {hint}") from None
    if done.returncode != 0:
        raise SetupError(f"{what}: {cmd[0]} exited with {done.returncode} (its output is above); {hint}")
    log(f"{what}: {time.monotonic() - start:.0f} s")


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]


def _build_once(target: Path, build) -> Path:
    """Build `target` with build(tmp_dir) unless present; atomic rename, so never half-built."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        build(tmp)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if target.is_dir():  # another run built it meanwhile
            return target
        raise
    return target


TOOLS = dict(zip(APT_PACKAGES, ("qemu-aarch64-static", "mmdebstrap", "arch-test"), strict=True))


def _missing_tools() -> list[str]:
    return [package for package, exe in TOOLS.items() if shutil.which(exe) is None]


def ensure_tools() -> None:
    missing = _missing_tools()
    if not missing:
        return
    hint = f"install them by hand: apt-get install {' '.join(missing)}"
    if os.geteuid() != 0:
        raise SetupError(f"the emulated Pi needs {', '.join(missing)}: sudo apt-get install {' '.join(missing)}")
    log(f"installing {', '.join(missing)}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    setup_step("apt-get update", hint, ["apt-get", "update", "-q"], env=env)
    # --reinstall: a package dpkg lists as installed whose program is gone is put back too
    setup_step(f"apt-get install {' '.join(missing)}", hint,
               ["apt-get", "install", "-y", "-q", "--reinstall", *missing], env=env)
    still = _missing_tools()
    if still:
        raise SetupError(f"apt-get installed {', '.join(still)} but {', '.join(TOOLS[p] for p in still)} "
                         f"is not on PATH ({os.environ.get('PATH', '')})")


def ensure_root(suite: str) -> Path:
    """The arm64 Debian user space (unpacked, ~200 MB): python3 and libstdc++."""
    def build(tmp: Path) -> None:
        log(f"building the arm64 Debian {suite} root (mmdebstrap, extract only)")
        tmp.rmdir()  # mmdebstrap wants to create it (or an empty dir); start clean
        setup_step(f"mmdebstrap (arm64 Debian {suite} root)",
                   "it needs Debian's package mirror (this machine's apt sources) and arch-test",
                   ["mmdebstrap", "--quiet", "--arch=arm64", "--variant=extract",
                    f"--include={ROOT_PACKAGES}", suite, str(tmp)])
        # trixie ships files under /usr only and base-files (not unpacked here) makes the /lib
        # link: without it the loader /lib/ld-linux-aarch64.so.1 is missing
        for name in ("bin", "sbin", "lib"):
            if not (tmp / name).exists() and (tmp / "usr" / name).is_dir():
                (tmp / name).symlink_to(f"usr/{name}")
    return _build_once(CACHE / f"root-{suite}-{_key(ROOT_PACKAGES)}", build)


def _project_wheel(dest: Path) -> Path:
    """This checkout built as a wheel (from a copy: no build/ left in the tree)."""
    src = dest / "src-copy"
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    setup_step("pip wheel (this checkout)", f"{sys.executable} needs pip, setuptools and wheel",
               [sys.executable, "-m", "pip", "wheel", "--quiet", "--disable-pip-version-check", "--no-deps",
                "--wheel-dir", str(dest), str(src)])
    shutil.rmtree(src)
    return next(dest.glob("edge_forecast-*.whl"))


def ensure_site(suite: str, runtime: str) -> Path:
    """`pip install 'edge-forecast[RUNTIME]' pytest` for the suite's Python on aarch64, done by the
    host's pip into a target folder: the device extra's own resolution (requires-python, the
    runtime's wheels) is what is tested. Keyed by pyproject.toml: its bounds decide the result."""
    py = SUITES[suite]
    key = _key(py, (ROOT / "pyproject.toml").read_text(), *TEST_REQUIREMENTS, *PLATFORMS)

    def build(tmp: Path) -> None:
        with tempfile.TemporaryDirectory() as wheels:
            wheel = _project_wheel(Path(wheels))
            log(f"pip install '{wheel.name}[{RUNTIMES[runtime]}]' for cp{py.replace('.', '')} aarch64")
            tags = [arg for plat in PLATFORMS for arg in ("--platform", plat)]
            setup_step(f"pip install (aarch64 cp{py.replace('.', '')} wheels for {runtime})",
                       "it needs PyPI, which must have aarch64 wheels of the runtime for this Python",
                       [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(tmp), "--only-binary=:all:", "--python-version", py,
                        "--implementation", "cp", "--abi", "cp" + py.replace(".", ""), *tags,
                        f"{wheel}[{RUNTIMES[runtime]}]", *TEST_REQUIREMENTS])
    return _build_once(CACHE / f"site-{suite}-{runtime}-{key}", build)


def ensure_cpuinfo(cpu: str) -> Path:
    """An ARM /proc/cpuinfo naming the Pi's core (4 cores, as on a Pi 4 / 5)."""
    path = CACHE / f"cpuinfo-{cpu}"
    if not path.is_file():
        block = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
                 "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\n"
                 f"CPU part\t: {CPUS[cpu]}\nCPU revision\t: 3\n\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("".join(block.format(n=n) for n in range(4)))
        tmp.replace(path)
    return path


def ensure_python(runtime: str, suite: str = "bookworm", cpu: str = "cortex-a72") -> Path:
    """An executable that runs the emulated Python (arguments as for python3)."""
    ensure_tools()
    root, site, cpuinfo = ensure_root(suite), ensure_site(suite, runtime), ensure_cpuinfo(cpu)
    py = SUITES[suite]
    wrapper = CACHE / "bin" / f"python-{suite}-{runtime}-{cpu}-{_key(str(ROOT))}"  # per checkout: its src
    # this checkout's code first: the site holds the copy installed when it was built
    pythonpath = f"{ROOT / 'src'}:{site}"
    inner = (f'mount --bind "{cpuinfo}" /proc/cpuinfo && exec env -u PYTHONHOME -u VIRTUAL_ENV '
             f'PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH:}}{pythonpath}" PYTHONNOUSERSITE=1 '
             f'qemu-aarch64-static -L "{root}" -cpu {cpu} -0 "{wrapper}" '
             f'"{root}/usr/bin/python{py}" "$@"')
    text = ("#!/bin/sh\n# emulated Raspberry Pi Python (scripts/arm64.py); a private mount namespace keeps\n"
            "# the fake ARM /proc/cpuinfo away from the host\n"
            "ulimit -c 0  # a crash in the guest leaves no qemu core file behind\n"
            f"exec unshare -m sh -c '{inner}' arm64-python \"$@\"\n")
    wrapper.parent.mkdir(parents=True, exist_ok=True)
    if not wrapper.is_file() or wrapper.read_text() != text:
        tmp = wrapper.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.chmod(0o755)
        tmp.replace(wrapper)
    return wrapper


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("python", "run"))
    parser.add_argument("runtime", choices=tuple(RUNTIMES))
    parser.add_argument("--suite", choices=tuple(SUITES), default="bookworm")
    parser.add_argument("--cpu", choices=tuple(CPUS), default="cortex-a72")
    cut = argv.index("--") if "--" in argv else len(argv)
    opts, args = parser.parse_args(argv[:cut]), argv[cut + 1:]
    # A caller reads stdout as the path: until it is written, fd 1 is stderr, so nothing that this
    # process or a child prints (apt's progress, pip's notices) can end up there.
    sys.stdout.flush()
    result = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    try:
        wrapper = ensure_python(opts.runtime, opts.suite, opts.cpu)
    except SetupError as exc:
        print(f"error: arm64 set-up: {exc}", file=sys.stderr)
        return 2
    if opts.action == "python":
        print(wrapper, file=result, flush=True)
        return 0
    os.dup2(result.fileno(), 1)  # the emulated command's own output is the caller's
    os.execv(str(wrapper), [str(wrapper), *args])
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
