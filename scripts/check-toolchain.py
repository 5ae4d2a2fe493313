#!/usr/bin/env python3
"""Checks that the image can build and run what it ships:
  - the Rust version is the same in the workspace (`rust-version`), the Dockerfile's build stage
    (`rust:X-bookworm`) and the README, and it is the highest `rust_version` any locked
    dependency needs (`cargo metadata --locked`);
  - every shared library the binary links (`ldd`) belongs to a package of the runtime stage or
    of debian:bookworm-slim's required set, and so libssl3 for librdkafka's OpenSSL.
Usage: scripts/check-toolchain.py [BINARY]"""
import json, os, pathlib, re, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
errors = []

def version(text):
    return tuple(int(x) for x in text.split("."))[:2]

workspace = re.search(r'^rust-version\s*=\s*"([0-9.]+)"', (root / "Cargo.toml").read_text(), re.M).group(1)
dockerfile = (root / "deploy/docker/Dockerfile").read_text()
docker = re.search(r"^FROM rust:([0-9.]+)-bookworm", dockerfile, re.M).group(1)
readme = re.search(r"stable ≥ ([0-9.]+)", (root / "README.md").read_text()).group(1)
meta = json.loads(subprocess.run(["cargo", "metadata", "--locked", "--format-version", "1"], cwd=root,
                                 check=True, capture_output=True, text=True).stdout)
needs = max((version(p["rust_version"]), p["name"]) for p in meta["packages"] if p.get("rust_version"))
for where, v in [("workspace rust-version", workspace), ("Dockerfile rust image", docker), ("README", readme)]:
    if version(v) != needs[0]:
        errors.append(f"{where} is {v}, but {needs[1]} needs {'.'.join(map(str, needs[0]))}")

# Runtime stage: the packages it installs, plus what bookworm-slim always has.
runtime = dockerfile.split("\nFROM ")[-1]
installed = set()
for m in re.finditer(r"apt-get install[^\n]*?((?:[ \t]+[a-z0-9][a-z0-9.+-]*)+)", runtime):
    installed |= {w for w in m.group(1).split() if not w.startswith("-")}
required = {"libc6", "libgcc-s1", "zlib1g", "libstdc++6"}
binary = sys.argv[1] if len(sys.argv) > 1 else str(root / "target/release/attrib")
for line in subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout.splitlines():
    path = line.split("=>")[-1].split("(")[0].strip()
    if not path.startswith("/"):
        continue  # the vDSO
    package = None
    # Merged /usr: the loader finds /lib/... while dpkg may know the file as /usr/lib/...
    for candidate in dict.fromkeys([path, "/usr" + path, os.path.realpath(path)]):
        owner = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if owner.returncode == 0:
            package = owner.stdout.split(":")[0]
            break
    if package not in installed | required:
        errors.append(f"{binary} links {path} (package {package}), which the runtime stage does not install")

if errors:
    print("\n".join(errors))
    sys.exit(1)
print(f"ok: Rust {'.'.join(map(str, needs[0]))} everywhere (needed by {needs[1]}); runtime packages cover ldd")
