"""PEP 517 build backend of the `msa` Python package (pyproject.toml).

In-tree and standard-library only, so `pip install .` works offline with no
build requirements to download (Debian 12 packages no scikit-build-core, and
pip's isolated build environment cannot see Debian's setuptools). It configures
the project with CMake (the same CMakeLists.txt as the README's build), builds
only the extension target, and packs a wheel with the extension, the
pure-Python files and the embedded default model (models/msa-tiny).

Build directory: $MSA_WHEEL_BUILD_DIR, default <source>/build-wheel (kept, so a
second install is incremental). Set CMAKE_CXX_COMPILER_LAUNCHER=ccache to reuse
compilations of the main build.
"""

import base64
import hashlib
import os
import subprocess
import sys
import sysconfig
import zipfile

NAME = "msa"
SOURCE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def _version():
    with open(os.path.join(SOURCE, "src", "core", "version.h")) as f:
        for line in f:
            if "kVersion" in line:
                return line.split('"')[1]
    raise RuntimeError("no kVersion in src/core/version.h")


def _metadata(version):
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\n"
            "Summary: Memory Sparse Attention (MSA) engine: memory banks, questions with provenance, routing\n"
            "Requires-Python: >=3.9\nRequires-Dist: numpy\nLicense: see the source repository\n")


def _tag():
    impl = "cp" if sys.implementation.name == "cpython" else sys.implementation.name
    py = f"{impl}{sys.version_info.major}{sys.version_info.minor}"
    abi = py + getattr(sys, "abiflags", "")
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{py}-{abi}-{plat}"


def _build_extension():
    build = os.environ.get("MSA_WHEEL_BUILD_DIR") or os.path.join(SOURCE, "build-wheel")
    configure = ["cmake", "-S", SOURCE, "-B", build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                 "-DMSA_BUILD_TESTS=OFF", "-DMSA_BUILD_BENCH=OFF", "-DMSA_BUILD_PYTHON=ON",
                 f"-DPython3_EXECUTABLE={sys.executable}"]
    for cmd in (configure, ["cmake", "--build", build, "--target", "_msa"]):
        print("msa_backend:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=sys.stderr)
    return os.path.join(build, "python", NAME)


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    """Metadata without building (pip asks for it before build_wheel)."""
    version = _version()
    info = f"{NAME}-{version}.dist-info"
    os.makedirs(os.path.join(metadata_directory, info), exist_ok=True)
    for name, text in _dist_info_files(version).items():
        with open(os.path.join(metadata_directory, info, name), "w") as f:
            f.write(text)
    return info


def _dist_info_files(version):
    return {
        "METADATA": _metadata(version),
        "WHEEL": f"Wheel-Version: 1.0\nGenerator: msa_backend\nRoot-Is-Purelib: false\nTag: {_tag()}\n",
        "top_level.txt": f"{NAME}\n",
    }


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    pkg = _build_extension()
    files = []  # (arcname, path)
    for f in sorted(os.listdir(pkg)):
        if f.endswith(".py") or f.endswith(".so") or f == "py.typed":
            files.append((f"{NAME}/{f}", os.path.join(pkg, f)))
    model = os.path.join(SOURCE, "models", "msa-tiny")
    for f in MODEL_FILES:
        if os.path.isfile(os.path.join(model, f)):
            files.append((f"{NAME}/models/msa-tiny/{f}", os.path.join(model, f)))
    info = f"{NAME}-{version}.dist-info"
    tag = _tag()
    meta = {f"{info}/{name}": text for name, text in _dist_info_files(version).items()}
    wheel_name = f"{NAME}-{version}-{tag}.whl"
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel_name), "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, path in files:
            with open(path, "rb") as f:
                data = f.read()
            z.writestr(arcname, data)
            record.append(_record_line(arcname, data))
        for arcname, text in meta.items():
            z.writestr(arcname, text)
            record.append(_record_line(arcname, text.encode()))
        record.append(f"{info}/RECORD,,")
        z.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return wheel_name
