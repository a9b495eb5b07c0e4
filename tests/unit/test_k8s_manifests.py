"""deploy/k8s/: every manifest is valid Kubernetes, checked offline against the schemas of K8S_VERSION (strict:
an unknown or misspelt field is an error); each process gets the settings it needs to start; every server has
probes, and the Rasa servers' readiness stays false while the model loads; no secret is written in the manifests.

kubernetes-validate ships the JSON schemas in its wheel and reads them from disk (the tests below cut the network
to show it). 1.28.3 is its newest release that runs on the jsonschema 4.17 Rasa 3.6 requires (later ones need
jsonschema >= 4.18 and `referencing`), hence Kubernetes 1.28's schemas: every API used here (apps/v1, v1,
policy/v1, autoscaling/v2, networking.k8s.io/v1) is the same in the versions after it.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Tuple
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml

from bot.processes import free_port
from bot.run_secrets import load_or_create
from bot.settings import RedisTarget

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
K8S_VERSION = "1.28.0"
WORKLOADS = ("Deployment", "StatefulSet")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD")


def manifests() -> List[Tuple[str, Dict[str, Any]]]:
    """(file name, resource) for every resource of every manifest the kustomization applies."""
    out = []
    for name in kustomization()["resources"]:
        out += [(name, doc) for doc in yaml.safe_load_all((K8S / name).read_text()) if doc]
    return out


def kustomization() -> Dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def resource(kind: str, name: str) -> Dict[str, Any]:
    return next(doc for _, doc in manifests() if doc["kind"] == kind and doc["metadata"]["name"] == name)


def containers() -> Iterator[Tuple[Dict[str, Any], Dict[str, Any]]]:
    for _, doc in manifests():
        if doc["kind"] in WORKLOADS:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                yield doc, container


def container(workload: str) -> Dict[str, Any]:
    return next(c for doc, c in containers() if doc["metadata"]["name"] == workload)


def expand(value: str, env: Mapping[str, str]) -> str:
    """The kubelet's $(VAR) expansion: a variable defined before is replaced, $$ escapes, others stay as they are."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), value)


def container_env(spec: Dict[str, Any], secrets: Mapping[str, str]) -> Dict[str, str]:
    """The environment the kubelet gives the container: ConfigMaps of envFrom, then env in order (Secret keys
    from ``secrets``; a missing non-optional key is what makes a pod fail with CreateContainerConfigError)."""
    env: Dict[str, str] = {}
    for source in spec.get("envFrom", []):
        env.update(resource("ConfigMap", source["configMapRef"]["name"])["data"])
    for var in spec.get("env", []):
        if "value" in var:
            env[var["name"]] = expand(var["value"], env)
            continue
        ref = var["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "shop-secrets"
        if ref["key"] in secrets:
            env[var["name"]] = secrets[ref["key"]]
        else:
            assert ref.get("optional"), f"{spec['name']}: Secret key {ref['key']} is not generated (docs/kubernetes.md)"
    return env


@pytest.fixture()
def secrets(tmp_path: Path) -> Dict[str, str]:
    """The Secret's values as docs/kubernetes.md makes them: the run command's own generator."""
    return load_or_create(tmp_path, {})


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("the validator tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


# ---- schema -------------------------------------------------------------------------------------------------
def test_the_kustomization_applies_every_manifest_in_the_folder():
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization()["resources"]) == sorted(files)


@pytest.mark.usefixtures("no_network")
def test_every_manifest_validates_offline_against_the_kubernetes_schema():
    checked = []
    for name, doc in manifests():
        # raises on an invalid resource, and when there is no schema for its kind (no silent skip)
        assert kubernetes_validate.validate(doc, K8S_VERSION, strict=True) == "1.28", name
        checked.append(doc["kind"])
    assert {"Deployment", "StatefulSet", "Service", "ConfigMap", "Ingress", "PodDisruptionBudget",
            "HorizontalPodAutoscaler", "NetworkPolicy"} <= set(checked)


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("change, complaint", [
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].update(
        readinesProbe=d["spec"]["template"]["spec"]["containers"][0].pop("readinessProbe")),
     "'readinesProbe' was unexpected"),
    (lambda d: d["spec"].update(replicas="two"), "'two' is not of type 'integer'"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), "'name' is a required property"),
])
def test_the_validator_refuses_a_misspelt_field_a_wrong_type_and_a_missing_name(change, complaint):
    deployment = resource("Deployment", "shop-rasa")
    change(deployment)
    with pytest.raises(kubernetes_validate.ValidationError) as e:
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    assert complaint in e.value.message


# ---- what runs where ----------------------------------------------------------------------------------------
def test_several_rasa_servers_behind_one_redis_that_stays_single():
    assert resource("Deployment", "shop-rasa")["spec"]["replicas"] >= 2
    assert resource("HorizontalPodAutoscaler", "shop-rasa")["spec"]["minReplicas"] >= 2
    assert resource("StatefulSet", "shop-redis")["spec"]["replicas"] == 1
    for doc, spec in containers():
        assert spec["resources"]["requests"]["cpu"] and spec["resources"]["requests"]["memory"], spec["name"]
        assert spec["resources"]["limits"]["memory"], spec["name"]
    rasa = container("shop-rasa")["resources"]
    mib = {"Mi": 1, "Gi": 1024}
    memory = int(rasa["requests"]["memory"][:-2]) * mib[rasa["requests"]["memory"][-2:]]
    # measured (docs/kubernetes.md): 1,764 MB resident when ready, 1,956 MB after 100 messages; one core each
    assert memory >= 1956 and rasa["requests"]["cpu"] == "1"


def test_every_server_has_probes_on_a_port_it_declares():
    for doc, spec in containers():
        ports = {p["name"] for p in spec["ports"]} | {p["containerPort"] for p in spec["ports"]}
        for kind in ("readinessProbe", "livenessProbe"):
            probe = spec[kind]
            target = (probe.get("httpGet") or probe.get("tcpSocket") or {}).get("port")
            assert target in ports or "exec" in probe, f"{doc['metadata']['name']} {kind}"


def test_each_process_starts_with_what_the_manifests_give_it(secrets, monkeypatch):
    from actions.access import AccessSettings
    from bot.bridge.bridge import HandoffBridge
    from common.redis_config import outbox_redis_url
    from handoff.settings import Settings as HandoffSettings

    redis_password = container_env(container("shop-redis"), secrets)["REDIS_PASSWORD"]
    services = {doc["metadata"]["name"]: doc["spec"]["ports"][0]["port"]
                for _, doc in manifests() if doc["kind"] == "Service"}

    def service_of(url: str) -> Tuple[str, int]:
        parsed = urlparse(url)
        assert services.get(parsed.hostname) == parsed.port, url
        return parsed.hostname, parsed.port

    handoff = container("shop-handoff")
    settings = HandoffSettings.from_env(container_env(handoff, secrets))
    assert (settings.host, settings.port) == ("0.0.0.0", handoff["ports"][0]["containerPort"])
    assert RedisTarget.from_url(settings.redis_url) == RedisTarget("shop-redis", 6379, 0, redis_password)

    actions = container("shop-actions")
    env = container_env(actions, secrets)
    access = AccessSettings.from_env(env)
    assert access.host == "0.0.0.0" and access.token == secrets["ACTION_SERVER_TOKEN"]
    assert actions["command"][actions["command"].index("--port") + 1] == str(actions["ports"][0]["containerPort"])
    assert RedisTarget.from_url(outbox_redis_url(env)).password == redis_password
    assert service_of(env["HANDOFF_URL"]) == ("shop-handoff", 5007)

    rasa = container("shop-rasa")
    env = container_env(rasa, secrets)
    endpoints = (ROOT / "endpoints.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)\}", endpoints))
    assert used and used <= set(env), f"endpoints.yml needs {sorted(used - set(env))}"
    # the tracker/lock stores (endpoints.yml) and the socket.io manager and bridge (REDIS_URL): one Redis
    stores = RedisTarget(env["REDIS_HOST"], int(env["REDIS_PORT"]), int(env["REDIS_DB"]), env["REDIS_PASSWORD"])
    assert RedisTarget.from_url(env["REDIS_URL"]) == stores == RedisTarget("shop-redis", 6379, 0, redis_password)
    assert service_of(env["ACTION_ENDPOINT_URL"]) == ("shop-actions", 5055)
    assert env["ACTION_SERVER_TOKEN"] == access.token  # the action server answers only this
    assert service_of(env["HANDOFF_URL"]) == ("shop-handoff", 5007)
    assert env["HANDOFF_BOT_TOKEN"] == settings.bot_token
    for name in list(os.environ):
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert HandoffBridge.from_env() is not None  # live handoff is on
    assert rasa["command"][rasa["command"].index("--port") + 1] == str(rasa["ports"][0]["containerPort"])


def test_the_image_is_the_one_the_dockerfile_builds_with_what_the_commands_read():
    assert kustomization()["images"][0]["name"] == "shop-assistant"
    for doc, spec in containers():
        assert spec["image"] == ("redis:7.2-alpine" if doc["kind"] == "StatefulSet" else "shop-assistant")
    dockerfile = (ROOT / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*?\])$", dockerfile, re.M | re.S).group(1)
    assert yaml.safe_load(cmd.replace("\\\n", "")) == container("shop-rasa")["command"]
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    for needed in ("endpoints.yml", "credentials.yml", "bot", "actions", "handoff", "common", "policy", "schemas"):
        assert needed not in ignored and (ROOT / needed).exists(), needed
    assert "models/*" in ignored and "!models/*.tar.gz" in ignored  # the trained model goes in, nothing else


# ---- secrets ------------------------------------------------------------------------------------------------
TOKEN_LIKE = re.compile(r"^(?=.*[0-9])(?=.*[a-z])(?=.*[A-Z])[A-Za-z0-9_+/=-]{16,}$")


def plain_secrets(docs: List[Tuple[str, Dict[str, Any]]]) -> List[str]:
    """Where a manifest holds a secret itself rather than a reference to the Secret `shop-secrets`."""
    found = []

    def scalars(node: Any, path: str) -> Iterator[Tuple[str, str]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from scalars(value, f"{path}.{key}")
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from scalars(value, f"{path}[{i}]")
        elif isinstance(node, str):
            yield path, node

    for name, doc in docs:
        where = f"{name} {doc['kind']}/{doc['metadata']['name']}"
        if doc["kind"] == "Secret":
            found.append(f"{where}: a Secret with its values")
        for key in (doc.get("data") or {}) if doc["kind"] == "ConfigMap" else ():
            if SECRET_NAME.search(key):
                found.append(f"{where}: {key} in a ConfigMap")
        for path, value in scalars(doc, ""):
            if TOKEN_LIKE.match(value) or re.search(r"://[^/@\s]*:(?!\$\()[^/@\s]+@", value):
                found.append(f"{where}{path}: {value[:6]}...")
        if doc["kind"] in WORKLOADS:
            for spec in doc["spec"]["template"]["spec"]["containers"]:
                for var in spec.get("env", []):
                    if SECRET_NAME.search(var["name"]) and "secretKeyRef" not in var.get("valueFrom", {}):
                        found.append(f"{where}: {var['name']} not from the Secret")
    return found


def test_no_secret_in_the_manifests_only_references_to_the_secret(secrets):
    assert plain_secrets(manifests()) == []
    text = "\n".join((K8S / name).read_text() for name in kustomization()["resources"])
    assert not [k for k, v in secrets.items() if v in text]


def test_the_secret_check_finds_a_token_a_password_in_a_url_and_a_secret_object():
    rasa = resource("Deployment", "shop-rasa")
    env = rasa["spec"]["template"]["spec"]["containers"][0]["env"]
    env[0] = {"name": "ACTION_SERVER_TOKEN", "value": "Zq3-k9_TxW2pLm8RvB4nYc7s"}
    env.append({"name": "REDIS_URL", "value": "redis://:hunter2@shop-redis:6379/0"})
    secret = {"kind": "Secret", "metadata": {"name": "shop-secrets"}, "stringData": {"REDIS_PASSWORD": "x"}}
    found = plain_secrets([("rasa.yaml", rasa), ("secret.yaml", secret)])
    # the token's value, its variable not taken from the Secret, the password in the URL, the Secret object
    assert len(found) == 4, found


# ---- the Rasa server's readiness ----------------------------------------------------------------------------
SERVE = textwrap.dedent("""
    import sys, time
    import rasa.core.agent, rasa.core.run
    from rasa.core.agent import Agent

    async def slow_load(**_kwargs):  # stands in for loading the model (about 60 s for ours): no model is read
        time.sleep(float(sys.argv[2]))  # blocks the loop like the real load, which is CPU-bound
        print("LOADED", time.time(), flush=True)
        return Agent()

    rasa.core.agent.load_agent = slow_load
    rasa.core.run.serve_application(credentials="credentials.yml", port=int(sys.argv[1]), enable_api=False,
                                    interface="127.0.0.1")
""")


def status(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return "refused"


def test_the_rasa_probes_are_refused_while_the_model_loads_and_answer_once_it_is_loaded(tmp_path):
    """Rasa's own serve_application (what `rasa run` calls) with our channels (credentials.yml): it loads the
    model in Sanic's before_server_start listener and binds the port only after it, so the readiness probe is
    refused during the whole load. If a Rasa or Sanic upgrade bound first, this test fails."""
    rasa = container("shop-rasa")
    ready = rasa["readinessProbe"]["httpGet"]["path"]
    assert rasa["startupProbe"]["httpGet"]["path"] == ready
    port, load_seconds = free_port(), 8.0
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS", "HANDOFF"))}
    log = open(tmp_path / "rasa.log", "w+")
    proc = subprocess.Popen([sys.executable, "-c", SERVE, str(port), str(load_seconds)], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT, env={**env, "RASA_TELEMETRY_ENABLED": "false"})
    seen = []
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            seen.append((time.time(), status(f"http://127.0.0.1:{port}{ready}"),
                         status(f"http://127.0.0.1:{port}{rasa['livenessProbe']['httpGet']['path']}")))
            if seen[-1][1] == 200:
                break
            time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    log.seek(0)
    output = log.read()
    assert seen and seen[-1][1:] == (200, 200), output[-3000:]
    loaded_at = float(re.search(r"^LOADED ([0-9.]+)$", output, re.M).group(1))
    during = [s[1:] for s in seen if s[0] < loaded_at]  # polls begun before the load had finished
    assert len(during) >= 5 and set(during) == {("refused", "refused")}, during
