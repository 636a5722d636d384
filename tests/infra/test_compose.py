"""Checks of the Docker path (docker-compose.yml, Dockerfile, .dockerignore) without a Docker engine.

docker-compose.yml is loaded by Compose's own loader (compose-go, the library `docker compose` is built
on, in infra/compose-check, which `./manage_all.sh test` builds): its schema, interpolation, merge keys and
dependencies are checked as `docker compose up` checks them, and a file it refuses fails here with its own
message. The project it makes (every service in one shape, variables filled in) is then checked against
the repository, so a renamed module, a typo in a service name or a hard-coded secret fails here instead of
at `docker compose up`.
"""

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from infra import stack

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
APP_ROOT = "/app"  # where the Dockerfile copies the repository

SITES = {site: stack.site_port(site, offset=0) for site in stack.SITES}

EXPECTED_SERVICES = {
    "kafka", "mongo", "kafdrop", "mongo-express", "zipkin", "topics", "order-relay",
    *(f"{site}-web" for site in SITES),
    *(f"{site}-consumer" for site in SITES),
}

# service -> {host port: container port}
EXPECTED_PORTS = {
    "kafka": {9092: 9092},
    "mongo": {27017: 27017},
    "kafdrop": {9000: 9000},
    "mongo-express": {8081: 8081},
    "zipkin": {9411: 9411},
    **{f"{site}-web": {port: port} for site, port in SITES.items()},
}

ALLOWED_CONDITIONS = {"service_healthy", "service_completed_successfully"}

# The processes that run the project's own code (they need the site settings and env).
PROJECT_SERVICES = EXPECTED_SERVICES - {"kafka", "mongo", "kafdrop", "mongo-express", "zipkin"}

# The variables compose refuses to start without (`${NAME:?…}`), given values a test can recognise.
SECRETS = {"DJANGO_SECRET_KEY": "secret-key-from-the-environment",
           "ME_CONFIG_BASICAUTH_PASSWORD": "password-from-the-environment"}


def compose_load(path: Path, environment: dict[str, str]) -> subprocess.CompletedProcess:
    """Compose's loader on a file, with only these variables set (no .env file is read)."""
    binary = os.environ.get("ORDERPIPE_COMPOSE_CHECK_BIN")
    if not binary:
        pytest.fail("ORDERPIPE_COMPOSE_CHECK_BIN is not set: `./manage_all.sh test` builds infra/compose-check")
    return subprocess.run([binary, str(path)], env=environment, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def compose():
    loaded = compose_load(COMPOSE_FILE, SECRETS)
    assert loaded.returncode == 0, f"Compose refuses {COMPOSE_FILE.name}:\n{loaded.stderr}"
    return json.loads(loaded.stdout)


@pytest.fixture(scope="module")
def services(compose):
    return compose.get("services") or {}


def _as_dict(environment):
    """Compose allows `environment` as a mapping or as a list of KEY=VALUE strings."""
    if environment is None:
        return {}
    if isinstance(environment, dict):
        return {k: ("" if v is None else str(v)) for k, v in environment.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)


def _command_text(command):
    if command is None:
        return ""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def _published(ports):
    """{host port: container port} from short ("8001:8001", "127.0.0.1:8001:8001") or long syntax."""
    published = {}
    for entry in ports or []:
        if isinstance(entry, dict):
            published[int(entry["published"])] = int(entry["target"])
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) < 2:
            continue  # a container port alone publishes on a random host port
        published[int(parts[-2])] = int(parts[-1])
    return published


def _depends_on(service):
    """{target: condition}; the list form means service_started."""
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        return {name: "service_started" for name in depends}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in depends.items()}


def _repo_path(container_path):
    """Map a path inside the project image back to the repository."""
    path = str(container_path)
    assert path == APP_ROOT or path.startswith(APP_ROOT + "/"), f"{path} is not under {APP_ROOT}"
    return REPO / path[len(APP_ROOT):].lstrip("/")


def test_compose_refuses_to_start_without_the_secrets():
    refused = compose_load(COMPOSE_FILE, {})
    assert refused.returncode == 1
    for name in SECRETS:
        assert f"required variable {name} is missing a value" in refused.stderr, refused.stderr


@pytest.mark.parametrize(("change", "message"), [
    (("    topics:\n      condition:", "    topic:\n      condition:"),
     'depends on undefined service "topic"'),
    (("condition: service_healthy", "condition: service_ready"),
     "condition value must be one of 'service_started', 'service_healthy', 'service_completed_successfully'"),
    (("${KAFKA_TOPIC_PARTITIONS:-6}", "${KAFKA_TOPIC_PARTITIONS:-6"), "invalid interpolation format"),
    (('"8001:8001"', '"80O1:8001"'), "Invalid hostPort: 80O1"),
    (("interval: 10s", "interval: 10 seconds"), 'unknown unit " seconds" in duration "10 seconds"'),
], ids=["undefined dependency", "unknown condition", "broken variable", "bad port", "bad duration"])
def test_a_broken_file_fails_with_composes_own_message(tmp_path, change, message):
    """The load is a real check: a copy with one mistake is refused, and the message says what and where."""
    old, new = change
    text = COMPOSE_FILE.read_text()
    assert old in text, f"{COMPOSE_FILE.name} no longer holds {old!r}: choose another mistake to make"
    broken = tmp_path / COMPOSE_FILE.name
    broken.write_text(text.replace(old, new, 1))
    refused = compose_load(broken, SECRETS)
    assert refused.returncode == 1 and message in refused.stderr, refused.stderr


def test_every_expected_service_exists(services):
    missing = sorted(EXPECTED_SERVICES - set(services))
    assert not missing, f"services missing from docker-compose.yml: {missing}"


def test_published_ports(services):
    wrong = {
        name: {"expected": expected, "found": _published(services.get(name, {}).get("ports"))}
        for name, expected in EXPECTED_PORTS.items()
        if _published(services.get(name, {}).get("ports")) != expected
    }
    assert not wrong, f"published ports differ from the documented ones: {wrong}"

    owners = {}
    for name, service in services.items():
        for host_port in _published(service.get("ports")):
            owners.setdefault(host_port, []).append(name)
    clashes = {port: names for port, names in owners.items() if len(names) > 1}
    assert not clashes, f"host ports published by more than one service: {clashes}"


def test_images_are_pinned(services):
    unpinned = []
    for name, service in services.items():
        image = service.get("image")
        if not image or "build" in service:
            continue  # built from this repository
        repository, _, tag = image.rpartition(":")
        if "@sha256:" in image:
            continue
        if not repository or "/" in tag or tag in ("", "latest"):
            unpinned.append(f"{name} ({image})")
    assert not unpinned, f"images without a pinned tag: {unpinned}"


@pytest.mark.parametrize(
    ("service", "repository", "major"),
    [("kafka", "apache/kafka", 4), ("mongo", "mongo", 8)],
)
def test_infrastructure_major_versions(services, service, repository, major):
    image = services[service]["image"]
    found_repository, _, tag = image.rpartition(":")
    assert found_repository == repository, f"{service} uses {image}, expected {repository}:{major}.x"
    assert re.match(rf"^{major}(\.|$)", tag), f"{service} uses {image}, expected major version {major}"


def test_build_contexts_and_dockerfiles_exist(services):
    problems = []
    for name, service in services.items():
        build = service.get("build")
        if build is None:
            continue
        if isinstance(build, str):
            build = {"context": build}
        context = (REPO / build.get("context", ".")).resolve()
        dockerfile = context / build.get("dockerfile", "Dockerfile")
        if not context.is_dir():
            problems.append(f"{name}: build context {context} does not exist")
        elif not dockerfile.is_file():
            problems.append(f"{name}: Dockerfile {dockerfile} does not exist")
    assert not problems, "\n".join(problems)


def test_project_services_run_from_the_project_image(services):
    images = {services[name].get("image") for name in PROJECT_SERVICES if name in services}
    no_build = sorted(name for name in PROJECT_SERVICES if name in services and "build" not in services[name])
    assert not no_build, f"project services not built from the repository: {no_build}"
    assert len(images) == 1, f"project services should share one image, found {sorted(map(str, images))}"


def test_site_commands_point_at_existing_code(services):
    """manage.py and the `<x>_site.wsgi` module named by each command exist on disk."""
    problems = []
    for name in sorted(PROJECT_SERVICES & set(services)):
        service = services[name]
        command = _command_text(service.get("command"))
        working_dir = service.get("working_dir")
        if not working_dir:
            problems.append(f"{name}: no working_dir, so manage.py cannot be found")
            continue
        site_dir = _repo_path(working_dir)
        if "manage.py" in command and not (site_dir / "manage.py").is_file():
            problems.append(f"{name}: {site_dir / 'manage.py'} does not exist")
        for module in re.findall(r"\b(\w+)\.wsgi\b", command):
            wsgi = site_dir / module / "wsgi.py"
            if not wsgi.is_file():
                problems.append(f"{name}: {module}.wsgi -> {wsgi} does not exist")
    assert not problems, "site commands reference missing files:\n" + "\n".join(problems)


@pytest.mark.parametrize("site", sorted(SITES))
def test_site_processes(services, site):
    port = SITES[site]
    web = services[f"{site}-web"]
    web_command = _command_text(web.get("command"))
    assert web.get("working_dir") == f"{APP_ROOT}/{site}_site", f"{site}-web runs from {web.get('working_dir')}"
    assert "manage.py migrate --noinput" in web_command, f"{site}-web does not migrate first: {web_command}"
    assert f"gunicorn {site}_site.wsgi" in web_command, f"{site}-web does not serve {site}_site.wsgi: {web_command}"
    assert f"--bind 0.0.0.0:{port}" in web_command, f"{site}-web does not bind port {port}: {web_command}"

    health = _command_text((web.get("healthcheck") or {}).get("test"))
    assert f"127.0.0.1:{port}/health" in health, f"{site}-web healthcheck does not call /health on {port}: {health}"

    consumer = services[f"{site}-consumer"]
    assert consumer.get("working_dir") == f"{APP_ROOT}/{site}_site", (
        f"{site}-consumer runs from {consumer.get('working_dir')}")
    assert "manage.py runconsumer" in _command_text(consumer.get("command")), (
        f"{site}-consumer does not run runconsumer")


def test_order_relay_and_topics(services):
    relay, topics = services["order-relay"], services["topics"]
    assert "manage.py runrelay" in _command_text(relay.get("command")), "order-relay does not run runrelay"
    assert relay.get("working_dir") == f"{APP_ROOT}/order_site", "order-relay must run from the order site"
    assert "manage.py ensure_topics" in _command_text(topics.get("command")), "topics does not run ensure_topics"
    assert topics.get("working_dir") == f"{APP_ROOT}/order_site", "topics must run from the order site"
    assert str(topics.get("restart")) == "no", "topics is a one-shot job and must not restart"
    assert _depends_on(topics) == {"kafka": "service_healthy"}, (
        f"topics should wait for a healthy broker only: {_depends_on(topics)}")


def test_depends_on_targets_and_conditions(services):
    problems = []
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            if target not in services:
                problems.append(f"{name} depends on undefined service {target!r}")
            if condition not in ALLOWED_CONDITIONS:
                problems.append(f"{name} -> {target}: condition {condition!r} not in {sorted(ALLOWED_CONDITIONS)}")
    assert not problems, "\n".join(problems)


def test_project_services_wait_for_broker_store_and_topics(services):
    wanted = {"kafka": "service_healthy", "mongo": "service_healthy", "topics": "service_completed_successfully"}
    wrong = {
        name: _depends_on(services[name])
        for name in sorted(PROJECT_SERVICES - {"topics"})
        if name in services and {k: _depends_on(services[name]).get(k) for k in wanted} != wanted
    }
    assert not wrong, f"site processes must wait for {wanted}; these do not: {wrong}"


def test_awaited_services_have_what_they_are_awaited_for(services):
    no_healthcheck, restarting = [], []
    for name, service in services.items():
        for target, condition in _depends_on(service).items():
            dependency = services.get(target, {})
            check = dependency.get("healthcheck") or {}
            if condition == "service_healthy" and (not check.get("test") or check.get("disable")):
                no_healthcheck.append(f"{target} (awaited by {name})")
            if condition == "service_completed_successfully" and str(dependency.get("restart", "no")) != "no":
                restarting.append(f"{target} (awaited by {name})")
    assert not no_healthcheck, f"awaited as healthy but without a healthcheck: {sorted(set(no_healthcheck))}"
    assert not restarting, f"awaited to complete but restarts: {sorted(set(restarting))}"


def test_site_environment(services):
    required = {
        "KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI", "DJANGO_SECRET_KEY", "DJANGO_DEBUG",
        "DJANGO_ALLOWED_HOSTS", "ORDERPIPE_STATE", "KAFKA_TOPIC_PARTITIONS",
    }
    missing = {
        name: sorted(required - set(_as_dict(services[name].get("environment"))))
        for name in sorted(PROJECT_SERVICES & set(services))
        if required - set(_as_dict(services[name].get("environment")))
    }
    assert not missing, f"site processes missing environment variables: {missing}"

    without_limit = [
        name for name in ("payment-web", "payment-consumer")
        if "PAYMENT_APPROVAL_LIMIT" not in _as_dict(services[name].get("environment"))
    ]
    assert not without_limit, f"payment processes without PAYMENT_APPROVAL_LIMIT: {without_limit}"

    bad_hosts = {}
    for name in sorted(PROJECT_SERVICES & set(services)):
        env = _as_dict(services[name].get("environment"))
        for variable in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URI"):
            hosts = re.findall(r"(?:^|//|,)([A-Za-z0-9_.-]+):\d+", env.get(variable, ""))
            if not hosts or any(host not in services for host in hosts):
                bad_hosts[f"{name}.{variable}"] = env.get(variable)
    assert not bad_hosts, f"broker/store addresses that are not compose services: {bad_hosts}"


def test_site_state_lives_in_named_volumes(compose, services):
    declared = set(compose.get("volumes") or {})
    problems = []
    for name in sorted((PROJECT_SERVICES - {"topics"}) & set(services)):
        service = services[name]
        state = _as_dict(service.get("environment")).get("ORDERPIPE_STATE")
        mounts = {}
        for volume in service.get("volumes") or []:
            if isinstance(volume, dict):
                mounts[volume.get("target")] = volume.get("source")
            else:
                source, _, target = str(volume).partition(":")
                mounts[target.split(":")[0]] = source
        source = mounts.get(state)
        if source is None:
            problems.append(f"{name}: nothing mounted at ORDERPIPE_STATE={state}")
        elif source not in declared:
            problems.append(f"{name}: {source} is not a declared named volume")
    assert not problems, "\n".join(problems)


def test_the_secrets_come_from_the_environment(services):
    """Every service that has one gets the value from the environment (and compose refuses to start without
    it: test_compose_refuses_to_start_without_the_secrets). Names only: a failure must not print a secret."""
    for name, value in SECRETS.items():
        literal = sorted(service_name for service_name, service in services.items()
                         if _as_dict(service.get("environment")).get(name, value) != value)
        assert not literal, f"{name} must come from the environment (${{{name}:?...}}), not the file: {literal}"
    assert _as_dict(services["mongo-express"].get("environment")).get("ME_CONFIG_BASICAUTH_PASSWORD")
    assert "DJANGO_SECRET_KEY" not in DOCKERFILE.read_text(), "the Dockerfile must not carry DJANGO_SECRET_KEY"


def test_dockerfile_installs_an_existing_requirements_file():
    text = DOCKERFILE.read_text()
    installed = re.findall(r"pip install\b[^\n]*?-r\s+(\S+)", text)
    assert installed, "the Dockerfile does not `pip install -r` a requirements file"
    # The path is relative to WORKDIR inside the image, where COPY put it from the repository.
    copied = {
        dest.rstrip("/"): src
        for src, dest in re.findall(r"^COPY\s+(?:--\S+\s+)*(\S+)\s+(\S+)\s*$", text, flags=re.MULTILINE)
    }
    missing = [path for path in installed if not (REPO / copied.get(path, path)).is_file()]
    assert not missing, f"requirements installed by the Dockerfile but absent from the repository: {missing}"


def test_dockerfile_basics():
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, flags=re.MULTILINE), "base image should be python:3.11-slim"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0"), f"the image must end as a non-root user, found USER {users}"


def test_dockerignore_keeps_local_state_out():
    ignored = {
        line.strip().lstrip("/").removeprefix("**/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    missing = sorted({".git", ".venv", ".state", "__pycache__", "tests"} - ignored)
    assert not missing, f".dockerignore does not exclude: {missing}"
