"""Every CLI command: name -> "module:attribute", imported only when used."""

COMMANDS: dict[str, str] = {
    # images (issue 1/7)
    "images": "minidock.cli.images:images",
    "image": "minidock.cli.images:image_group",
    "history": "minidock.cli.images:history",
    "inspect": "minidock.cli.inspect:inspect",
    "tag": "minidock.cli.images:tag",
    "rmi": "minidock.cli.images:rmi",
    "import": "minidock.cli.archive:import_",
    "save": "minidock.cli.archive:save",
    "load": "minidock.cli.archive:load",
    "system": "minidock.cli.system:system_group",
    "version": "minidock.cli.system:version",
    "info": "minidock.cli.system:info",
    # registry (issue 5/7)
    "pull": "minidock.cli.registry:pull",
    "push": "minidock.cli.registry:push",
    "login": "minidock.cli.registry:login",
    "logout": "minidock.cli.registry:logout",
    # builder (issue 4/7)
    "build": "minidock.cli.build:build",
    "builder": "minidock.cli.build:builder_group",
    "build-cache": "minidock.cli.internals:build_cache_group",
    # containers (issue 3/7)
    "run": "minidock.cli.containers:run",
    "create": "minidock.cli.containers:create",
    "ps": "minidock.cli.containers:ps",
    "start": "minidock.cli.containers:start",
    "stop": "minidock.cli.containers:stop",
    "kill": "minidock.cli.containers:kill",
    "restart": "minidock.cli.containers:restart",
    "rm": "minidock.cli.containers:rm",
    "logs": "minidock.cli.containers:logs",
    "wait": "minidock.cli.containers:wait",
    "rename": "minidock.cli.containers:rename",
    "top": "minidock.cli.containers:top",
    "port": "minidock.cli.containers:port",
    "cp": "minidock.cli.containers:cp",
    "diff": "minidock.cli.containers:diff",
    "commit": "minidock.cli.containers:commit",
    "export": "minidock.cli.containers:export",
    "exec": "minidock.cli.containers:exec_",
    "container": "minidock.cli.containers:container_group",
    "volume": "minidock.cli.volumes:volume_group",
    # compose (issue 5/8)
    "compose": "minidock.cli.compose:compose_group",
}

FAST_COMMANDS = ("run", "create")  # parsed without click: start-up time matters
