"""`minidock compose config` prints docker compose's normalised model.

Each case is a project (files) and the exact output `docker compose config`
gives for it; `{dir}` stands for the project directory.
"""

from __future__ import annotations

import json
import textwrap

import pytest
from compose_testkit import Run


def expect(text: str, run: Run) -> str:
    return textwrap.dedent(text).lstrip("\n").replace("{dir}", str(run.project))  # type: ignore[attr-defined]


def test_short_syntax_ports_volumes_environment(compose: Run) -> None:
    result = compose({"compose.yaml": """
        services:
          web:
            image: nginx:${TAG:-stable}
            ports:
              - 8080:80
              - "3000"
              - 127.0.0.1:9000-9001:90-91/udp
            expose: [8000]
            volumes:
              - ./html:/usr/share/nginx/html:ro
              - logs:/var/log/nginx
              - /cache
            environment:
              - PLAIN=1
              - FROM_ENV
              - NOT_SET
            command: nginx -g "daemon off;"
        volumes:
          logs: {}
        """}, "config", env={"FROM_ENV": "outside"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          web:
            command:
              - nginx
              - -g
              - daemon off;
            environment:
              FROM_ENV: outside
              NOT_SET: null
              PLAIN: "1"
            expose:
              - "8000"
            image: nginx:stable
            networks:
              default: null
            ports:
              - mode: ingress
                target: 80
                published: "8080"
                protocol: tcp
              - mode: ingress
                target: 3000
                protocol: tcp
              - mode: ingress
                host_ip: 127.0.0.1
                target: 90
                published: "9000"
                protocol: udp
              - mode: ingress
                host_ip: 127.0.0.1
                target: 91
                published: "9001"
                protocol: udp
            volumes:
              - type: bind
                source: {dir}/html
                target: /usr/share/nginx/html
                read_only: true
                bind:
                  create_host_path: true
              - type: volume
                source: logs
                target: /var/log/nginx
                volume: {}
              - type: volume
                target: /cache
                volume: {}
        networks:
          default:
            name: proj_default
        volumes:
          logs:
            name: proj_logs
        """, compose)


def test_long_syntax_and_build_and_depends_on(compose: Run) -> None:
    result = compose({"compose.yaml": """
        services:
          web:
            build:
              context: ./web
              args: [VERSION=1, FROM_ENV]
            ports:
              - target: 80
                published: 8080
            volumes:
              - type: bind
                source: ./conf
                target: /etc/nginx/conf.d/
            depends_on:
              app:
                condition: service_healthy
            entrypoint: ["/docker-entrypoint.sh"]
          app:
            image: busybox
            depends_on: [db]
          db:
            image: redis
        """}, "config", env={"FROM_ENV": "x"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          app:
            depends_on:
              db:
                condition: service_started
                required: true
            image: busybox
            networks:
              default: null
          db:
            image: redis
            networks:
              default: null
          web:
            build:
              context: {dir}/web
              dockerfile: Dockerfile
              args:
                FROM_ENV: x
                VERSION: "1"
            depends_on:
              app:
                condition: service_healthy
                required: true
            entrypoint:
              - /docker-entrypoint.sh
            networks:
              default: null
            ports:
              - mode: ingress
                target: 80
                published: "8080"
                protocol: tcp
            volumes:
              - type: bind
                source: {dir}/conf
                target: /etc/nginx/conf.d
        networks:
          default:
            name: proj_default
        """, compose)


MERGE_BASE = """
    services:
      web:
        image: nginx
        command: ["nginx", "-g", "daemon off;"]
        environment: {A: "1", B: "2"}
        ports: ["8080:80"]
        volumes: ["./a:/data"]
        labels: [tier=front]
"""
MERGE_OVERRIDE = """
    services:
      web:
        command: nginx-debug
        environment: [B=3, C=4]
        ports: ["8080:80", "8443:443"]
        volumes: ["./b:/data", "./c:/extra"]
        labels: {owner: me}
"""
MERGED = """
    name: proj
    services:
      web:
        command:
          - nginx-debug
        environment:
          A: "1"
          B: "3"
          C: "4"
        image: nginx
        labels:
          owner: me
          tier: front
        networks:
          default: null
        ports:
          - mode: ingress
            target: 80
            published: "8080"
            protocol: tcp
          - mode: ingress
            target: 443
            published: "8443"
            protocol: tcp
        volumes:
          - type: bind
            source: {dir}/b
            target: /data
            bind:
              create_host_path: true
          - type: bind
            source: {dir}/c
            target: /extra
            bind:
              create_host_path: true
    networks:
      default:
        name: proj_default
"""


def test_merge_of_two_files_given_with_f(compose: Run) -> None:
    result = compose({"a.yml": MERGE_BASE, "b.yml": MERGE_OVERRIDE},
                     "-f", "a.yml", "-f", "b.yml", "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect(MERGED, compose)


def test_override_file_is_found_beside_the_compose_file(compose: Run) -> None:
    (compose.project / "sub").mkdir()  # type: ignore[attr-defined]
    result = compose({"compose.yaml": MERGE_BASE, "compose.override.yaml": MERGE_OVERRIDE},
                     "config", cwd="sub")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect(MERGED, compose)


def test_extends_in_the_same_file_and_from_another_file(compose: Run) -> None:
    result = compose({
        "compose.yaml": """
            services:
              base:
                image: busybox
                environment: {LEVEL: base}
              child:
                extends: base
                environment: {EXTRA: "1"}
              remote:
                extends:
                  file: common/services.yml
                  service: shared
                command: echo hi
            """,
        "common/services.yml": """
            services:
              shared:
                image: alpine
                volumes: ["./data:/data"]
                command: echo base
            """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          base:
            environment:
              LEVEL: base
            image: busybox
            networks:
              default: null
          child:
            environment:
              EXTRA: "1"
              LEVEL: base
            image: busybox
            networks:
              default: null
          remote:
            command:
              - echo
              - hi
            image: alpine
            networks:
              default: null
            volumes:
              - type: bind
                source: {dir}/common/data
                target: /data
                bind:
                  create_host_path: true
        networks:
          default:
            name: proj_default
        """, compose)


def test_include_brings_services_and_resources(compose: Run) -> None:
    result = compose({
        "compose.yaml": """
            include:
              - db/compose.yaml
            services:
              web:
                image: nginx
                depends_on: [db]
            """,
        "db/compose.yaml": """
            services:
              db:
                image: postgres:${PG:-16}
                volumes: [pgdata:/var/lib/postgresql/data]
            volumes:
              pgdata: {}
            """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          db:
            image: postgres:16
            networks:
              default: null
            volumes:
              - type: volume
                source: pgdata
                target: /var/lib/postgresql/data
                volume: {}
          web:
            depends_on:
              db:
                condition: service_started
                required: true
            image: nginx
            networks:
              default: null
        networks:
          default:
            name: proj_default
        volumes:
          pgdata:
            name: proj_pgdata
        """, compose)


PROFILES = {"compose.yaml": """
    services:
      web:
        image: nginx
      debug:
        image: busybox
        profiles: [tools]
      docs:
        image: busybox
        profiles: [docs]
    """}


@pytest.mark.parametrize(("args", "env", "services"), [
    ((), {}, "web\n"),
    (("--profile", "tools"), {}, "debug\nweb\n"),
    ((), {"COMPOSE_PROFILES": "tools,docs"}, "debug\ndocs\nweb\n"),
    (("--profile", "*"), {}, "debug\ndocs\nweb\n"),
])
def test_profiles_enable_services(compose: Run, args: tuple[str, ...], env: dict[str, str],
                                  services: str) -> None:
    result = compose(PROFILES, *args, "config", "--services", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == services


def test_a_service_named_on_the_command_line_enables_itself(compose: Run) -> None:
    result = compose(PROFILES, "config", "debug", "--format", "json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert list(model) == ["name", "networks", "services"]
    assert model["services"] == {"debug": {"profiles": ["tools"], "image": "busybox",
                                           "networks": {"default": None}}}
    listed = compose(PROFILES, "config", "--profiles")
    assert listed.stdout == "docs\ntools\n"


def test_env_file_and_dot_env(compose: Run) -> None:
    result = compose({
        ".env": "TAG=1.2\nCOMPOSE_PROJECT_NAME=fromdotenv\n",
        "web.env": "# comment\nFROM_FILE=yes\nexport SHARED='from file'\nQUOTED=\"a\\nb\"\n",
        "compose.yaml": """
            services:
              web:
                image: app:${TAG}
                env_file: web.env
                environment:
                  SHARED: from environment
                  PROJECT: ${COMPOSE_PROJECT_NAME}
            """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: fromdotenv
        services:
          web:
            environment:
              FROM_FILE: "yes"
              PROJECT: fromdotenv
              QUOTED: |-
                a
                b
              SHARED: from environment
            image: app:1.2
            networks:
              default: null
        networks:
          default:
            name: fromdotenv_default
        """, compose)


@pytest.mark.parametrize(("args", "env", "yaml_name", "expected"), [
    ((), {}, None, "proj"),
    ((), {}, "Named_In-YAML!", "named_in-yaml"),
    ((), {"COMPOSE_PROJECT_NAME": "fromenv"}, "inyaml", "fromenv"),
    (("-p", "flag"), {"COMPOSE_PROJECT_NAME": "fromenv"}, "inyaml", "flag"),
    ((), {"SUFFIX": "x"}, "app-${SUFFIX}", "app-x"),
])
def test_project_name_rules(compose: Run, args: tuple[str, ...], env: dict[str, str],
                            yaml_name: str | None, expected: str) -> None:
    head = f"name: {yaml_name}\n" if yaml_name else ""
    result = compose({"compose.yaml": head + "services:\n  web:\n    image: nginx\n"},
                     *args, "config", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == expected


def test_directory_name_is_normalised(compose: Run, tmp_path) -> None:  # type: ignore[no-untyped-def]
    odd = compose.project / "_My.Project Dir"  # type: ignore[attr-defined]
    odd.mkdir()
    (odd / "compose.yml").write_text("services:\n  web:\n    image: nginx\n")
    result = compose({}, "--project-directory", str(odd), "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["name"] == "myprojectdir"


def test_invalid_project_name_from_the_flag(compose: Run) -> None:
    result = compose({"compose.yaml": "services:\n  web:\n    image: nginx\n"},
                     "-p", "Bad Name", "config")
    assert result.returncode == 1
    assert result.stderr.startswith('Error: invalid project name "Bad Name"')


def test_quiet_volumes_and_no_interpolate(compose: Run) -> None:
    files = {"compose.yaml": """
        services:
          web:
            image: nginx:${TAG:-x}
            volumes: [data:/data]
        volumes:
          data: {}
          other: {}
        """}
    assert compose(files, "config", "-q").stdout == ""
    assert compose(files, "config", "--volumes").stdout == "data\nother\n"
    raw = compose(files, "config", "--no-interpolate", "--format", "json")
    assert json.loads(raw.stdout)["services"]["web"]["image"] == "nginx:${TAG:-x}"


def test_unset_variable_warns_on_stderr(compose: Run) -> None:
    result = compose({"compose.yaml": "services:\n  web:\n    image: nginx:${NOPE}\n"}, "config")
    assert result.returncode == 0
    assert 'The "NOPE" variable is not set. Defaulting to a blank string.' in result.stderr
    assert "image: 'nginx:'" in result.stdout


def test_service_fields_durations_sizes_and_resources(compose: Run) -> None:
    (compose.project / "token.txt").write_text("tok\n")  # type: ignore[attr-defined]
    result = compose({"compose.yaml": """
        x-common: &common
          restart: unless-stopped
        services:
          app:
            <<: *common
            image: busybox
            healthcheck:
              test: ["CMD", "wget", "-q", "localhost:8000"]
              interval: 90s
              timeout: 5s
              retries: 3
              start_period: 1m
            stop_grace_period: 1m30s
            deploy:
              replicas: 2
              resources:
                limits:
                  cpus: "0.5"
                  memory: 512m
            secrets: [token]
            configs:
              - source: conf
                target: /etc/app.conf
            networks:
              back:
                aliases: [api]
            read_only: true
            init: true
            ulimits:
              nofile:
                soft: 1024
                hard: 2048
              nproc: 512
            tmpfs: /run
            extra_hosts:
              - "host.docker.internal:host-gateway"
            labels:
              com.example.tier: back
            mem_limit: 1g
            user: "1000:1000"
            working_dir: /srv
            cap_add: [NET_ADMIN]
            container_name: the-app
            hostname: app
            stop_signal: SIGTERM
        secrets:
          token:
            file: ./token.txt
        configs:
          conf:
            file: ./app.conf
        networks:
          back:
            internal: true
          outside:
            external: true
        """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          app:
            cap_add:
              - NET_ADMIN
            configs:
              - source: conf
                target: /etc/app.conf
            container_name: the-app
            deploy:
              replicas: 2
              resources:
                limits:
                  cpus: 0.5
                  memory: "536870912"
            extra_hosts:
              - host.docker.internal=host-gateway
            hostname: app
            healthcheck:
              test:
                - CMD
                - wget
                - -q
                - localhost:8000
              timeout: 5s
              interval: 1m30s
              retries: 3
              start_period: 1m0s
            image: busybox
            init: true
            labels:
              com.example.tier: back
            mem_limit: "1073741824"
            networks:
              back:
                aliases:
                  - api
            read_only: true
            restart: unless-stopped
            secrets:
              - source: token
                target: /run/secrets/token
            stop_grace_period: 1m30s
            stop_signal: SIGTERM
            tmpfs:
              - /run
            ulimits:
              nofile:
                soft: 1024
                hard: 2048
              nproc: 512
            user: 1000:1000
            working_dir: /srv
        networks:
          back:
            name: proj_back
            internal: true
        secrets:
          token:
            name: proj_token
            file: {dir}/token.txt
        configs:
          conf:
            name: proj_conf
            file: {dir}/app.conf
        x-common:
          restart: unless-stopped
        """, compose)


def test_dollars_are_escaped_in_interpolated_output(compose: Run) -> None:
    files = {"compose.yaml": """
        services:
          web:
            image: nginx
            command: echo $$HOME ${WHO}
        """}
    result = compose(files, "config", env={"WHO": "me"})
    assert result.returncode == 0, result.stderr
    assert "      - $$HOME\n      - me\n" in result.stdout
    raw = compose(files, "config", "--no-interpolate")
    assert "      - $$HOME\n      - ${WHO}\n" in raw.stdout


def test_listings_images_and_output_file(compose: Run) -> None:
    files = {"compose.yaml": """
        services:
          web:
            build: .
            depends_on: [db, cache]
          db:
            image: postgres
          cache:
            image: redis
            depends_on: [db]
        """}
    assert compose(files, "config", "--services").stdout == "db\ncache\nweb\n"
    assert compose(files, "config", "--images").stdout == "redis\npostgres\nproj-web\n"
    result = compose(files, "config", "-o", "out.yaml")
    assert result.returncode == 0 and result.stdout == ""
    written = (compose.project / "out.yaml").read_text()  # type: ignore[attr-defined]
    assert written == compose(files, "config").stdout
    as_json = compose(files, "config", "--format", "json").stdout
    assert not as_json.endswith("\n") and json.loads(as_json)["name"] == "proj"


def test_container_names_must_be_unique(compose: Run) -> None:
    result = compose({"compose.yaml": """
        services:
          a:
            image: x
            container_name: same
          b:
            image: x
            container_name: same
        """}, "config")
    assert result.returncode == 1
    assert result.stderr == ('Error: compose.yaml:8: services.b.container_name: container name '
                             '"same" is already in use by service a\n')


def test_files_elsewhere_env_file_flag_and_compose_file_variable(compose: Run) -> None:
    files = {
        "deploy/base.yml": """
            services:
              web:
                image: web:${TAG}
                build: ../src
                labels: [from=base]
                label_file: labels.txt
            """,
        "deploy/labels.txt": "team=core\n",
        "deploy/prod.env": "TAG=prod\n",
        ".env": "TAG=dotenv\n",
    }
    by_flag = compose(files, "-f", "deploy/base.yml", "--env-file", "deploy/prod.env",
                      "config", "--format", "json")
    assert by_flag.returncode == 0, by_flag.stderr
    web = json.loads(by_flag.stdout)["services"]["web"]
    root = str(compose.project)  # type: ignore[attr-defined]
    assert web["image"] == "web:prod"
    assert web["build"] == {"context": f"{root}/src", "dockerfile": "Dockerfile"}
    assert web["labels"] == {"from": "base", "team": "core"}
    assert json.loads(by_flag.stdout)["name"] == "deploy"
    by_variable = compose(files, "config", "--format", "json",
                          env={"COMPOSE_FILE": "deploy/base.yml", "TAG": "shell"})
    assert by_variable.returncode == 0, by_variable.stderr
    assert json.loads(by_variable.stdout)["services"]["web"]["image"] == "web:shell"


def test_include_with_its_own_env_file_and_project_directory(compose: Run) -> None:
    result = compose({
        "compose.yaml": """
            include:
              - path: lib/db.yaml
                env_file: lib/db.env
            services:
              app:
                image: app
                networks: [back]
            networks:
              back: {}
            """,
        "lib/db.yaml": """
            services:
              db:
                image: postgres:${PG}
                networks: [back]
                env_file: conf/db.env
            networks:
              back:
                internal: true
            """,
        "lib/db.env": "PG=15\n",
        "lib/conf/db.env": "POSTGRES_DB=app\n",
    }, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    assert model["services"]["db"]["image"] == "postgres:15"
    assert model["services"]["db"]["environment"] == {"POSTGRES_DB": "app"}
    # a resource both define: the including file's definition merged over the included one
    assert model["networks"] == {"back": {"name": "proj_back", "internal": True}}


def test_extends_chain_across_files_keeps_each_files_paths(compose: Run) -> None:
    result = compose({
        "compose.yaml": """
            services:
              web:
                extends: {file: a/one.yml, service: one}
                ports: ["80"]
            """,
        "a/one.yml": """
            services:
              one:
                extends: {file: ../b/two.yml, service: two}
                volumes: ["./one:/one"]
            """,
        "b/two.yml": """
            services:
              two:
                image: base
                volumes: ["./two:/two"]
                environment: {LEVEL: two}
            """}, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    web = json.loads(result.stdout)["services"]["web"]
    root = str(compose.project)  # type: ignore[attr-defined]
    assert web["image"] == "base"
    assert web["environment"] == {"LEVEL": "two"}
    assert [v["source"] for v in web["volumes"]] == [f"{root}/b/two", f"{root}/a/one"]
    assert web["ports"] == [{"mode": "ingress", "target": 80, "protocol": "tcp"}]


def test_selected_services_keep_their_dependencies(compose: Run) -> None:
    files = {"compose.yaml": """
        services:
          web: {image: nginx, depends_on: [app]}
          app: {image: app, depends_on: [db]}
          db: {image: postgres}
          other: {image: other}
        """}
    result = compose(files, "config", "app", "--format", "json")
    assert sorted(json.loads(result.stdout)["services"]) == ["app", "db"]
    unknown = compose(files, "config", "nope")
    assert unknown.returncode == 1
    assert unknown.stderr == "Error: no such service: nope\n"


def test_networks_attachments_and_external_resources(compose: Run) -> None:
    result = compose({"compose.yaml": """
        services:
          web:
            image: nginx
            networks:
              front:
                aliases: [www]
                ipv4_address: 172.28.0.10
              outside: {}
            volumes: [shared:/srv]
        networks:
          front:
            ipam:
              config: [{subnet: 172.28.0.0/16}]
          outside:
            external: true
        volumes:
          shared:
            external: true
            name: team-shared
        """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          web:
            image: nginx
            networks:
              front:
                aliases:
                  - www
                ipv4_address: 172.28.0.10
              outside: {}
            volumes:
              - type: volume
                source: shared
                target: /srv
                volume: {}
        networks:
          front:
            name: proj_front
            ipam:
              config:
                - subnet: 172.28.0.0/16
          outside:
            name: outside
            external: true
        volumes:
          shared:
            name: team-shared
            external: true
        """, compose)


def test_anchors_merge_keys_and_extension_fields(compose: Run) -> None:
    result = compose({"compose.yaml": """
        x-defaults: &defaults
          restart: unless-stopped
          environment:
            LOG: info
        services:
          web:
            <<: *defaults
            image: nginx
            x-note: front
        """}, "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == expect("""
        name: proj
        services:
          web:
            environment:
              LOG: info
            image: nginx
            networks:
              default: null
            restart: unless-stopped
            x-note: front
        networks:
          default:
            name: proj_default
        x-defaults:
          environment:
            LOG: info
          restart: unless-stopped
        """, compose)
    as_json = json.loads(compose({}, "config", "--format", "json").stdout)
    assert "x-note" not in as_json["services"]["web"]  # Go's JSON tags drop nested x- fields
    assert as_json["x-defaults"] == {"environment": {"LOG": "info"}, "restart": "unless-stopped"}


def test_no_services_prints_an_empty_mapping(compose: Run) -> None:
    result = compose({"compose.yaml": "services: {}\n"}, "config")
    assert result.stdout == "name: proj\nservices: {}\n"


def test_two_default_names_warn_and_the_first_wins(compose: Run) -> None:
    result = compose({"compose.yaml": "services:\n  a:\n    image: from-compose\n",
                      "docker-compose.yml": "services:\n  a:\n    image: from-docker\n"},
                     "config", "--images")
    assert result.stdout == "from-compose\n"
    assert "WARN[0000] Found multiple config files with supported names: " in result.stderr
