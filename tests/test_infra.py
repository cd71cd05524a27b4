"""infra/: the compose file and the Kubernetes manifests parse, and the images install as `make` does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

INFRA = Path(__file__).resolve().parents[1] / "infra"
K8S = sorted((INFRA / "k8s").glob("*.yaml"))


def test_compose_services_are_built_or_use_an_image_built_here() -> None:
    compose = yaml.safe_load((INFRA / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "prefect-server", "worker", "dask-scheduler", "dask-worker"} <= set(services)
    built = {s["image"] for s in services.values() if "build" in s}
    for name, service in services.items():
        if "build" in service:
            context = (INFRA / service["build"]["context"]).resolve()  # relative to the compose file
            assert (context / service["build"]["dockerfile"]).exists(), name
        image = service.get("image", "")
        assert image in built or not image.startswith("foleyflow"), f"{name}: image {image} is built by no service"
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown service {dep}"
    for volume in (v.split(":")[0] for s in services.values() for v in s.get("volumes", [])):
        assert volume in compose["volumes"], volume


@pytest.mark.parametrize("manifest", K8S, ids=lambda p: p.name)
def test_every_kubernetes_document_parses_with_kind_and_metadata(manifest: Path) -> None:
    docs = [d for d in yaml.safe_load_all(manifest.read_text()) if d is not None]
    assert docs
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), doc


def test_the_kubernetes_worker_serves_the_pool_of_prefect_yaml() -> None:
    pools = re.findall(r"^\s+name: (foleyflow-\w+)$", (INFRA.parent / "prefect.yaml").read_text(), re.M)
    assert "foleyflow-cpu" in pools
    worker = yaml.safe_load((INFRA / "k8s" / "prefect-worker.yaml").read_text())
    command = worker["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--pool") + 1] == "foleyflow-cpu"
    kustomization = yaml.safe_load((INFRA / "k8s" / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(p.name for p in K8S if p.name != "kustomization.yaml")


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.cuda"])
def test_the_images_install_with_the_script_make_runs(dockerfile: str) -> None:
    make_env = re.search(r"^env:\n\t@?(.+)$", (INFRA.parent / "Makefile").read_text(), re.M).group(1).strip()
    assert make_env == "infra/bootstrap.sh"
    text = (INFRA / dockerfile).read_text()
    runs = [line.split("RUN", 1)[1].strip() for line in text.splitlines() if line.startswith("RUN ")]
    assert make_env in runs  # the same install, not a copy of it
    assert not any("pip install" in r for r in runs)  # nothing installed beside the lock
    copied = [line.split()[1:-1] for line in text.splitlines() if line.startswith("COPY ")]
    assert ["requirements.lock", "pyproject.toml", "README.md", "Makefile"] in copied
