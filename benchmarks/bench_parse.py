"""Parse and evaluate a generated 5,000-instruction Dockerfile (issue 2/7).

In process, through the library, as the builder calls it: the frontend's cost
before any step runs. The Dockerfile mixes every kind of instruction, flags,
continuations, heredocs and variable expansion over 50 stages, each built on
the one before, so evaluation carries state from stage to stage. Target:
under 0.2 s.
"""

from __future__ import annotations

from harness import Context, Row, Side, figure

STAGE_SIZE = 100


def generate(instructions: int) -> bytes:
    """A Dockerfile with a realistic mix of instructions, split into stages."""
    lines = ["# syntax=docker/dockerfile:1", "ARG BASE=debian:12", "ARG VERSION=1.0"]
    count = 0
    stage = 0
    while count < instructions:
        base = "${BASE}" if stage == 0 else f"stage{stage - 1}"
        lines.append(f"FROM {base} AS stage{stage}")
        count += 1
        body = [
            "ARG VERSION",
            'ENV APP_HOME=/opt/app PATH="/opt/app/bin:$PATH" VERSION_${VERSION}=yes',
            "WORKDIR $APP_HOME/src",
            "LABEL org.opencontainers.image.version=$VERSION maintainer=\"team <t@example.com>\"",
            "COPY --chown=1000:1000 --chmod=0644 requirements.txt ./",
            "RUN apt-get update && \\\n    apt-get install -y --no-install-recommends "
            "ca-certificates curl && \\\n    rm -rf /var/lib/apt/lists/*",
            "RUN --mount=type=cache,target=/root/.cache,sharing=locked pip install -r "
            "requirements.txt",
            'COPY ["src/", "./src/"]',
            "EXPOSE 8080 9090/udp",
            "USER 1000:1000",
            'HEALTHCHECK --interval=30s --timeout=5s --retries=3 CMD curl -f '
            'http://localhost:8080/ || exit 1',
            "VOLUME /data",
            'CMD ["python", "-m", "app", "--port", "8080"]',
            "RUN <<EOF\nset -e\necho building ${VERSION}\nEOF",
        ]
        i = 0
        while i < STAGE_SIZE - 1 and count < instructions:
            lines.append(body[i % len(body)])
            count += 1
            i += 1
        stage += 1
    return ("\n".join(lines) + "\n").encode()


def parse_and_evaluate(data: bytes) -> int:
    """Parse, plan and evaluate every stage; return the number of steps produced."""
    from minidock.dockerfile import ImageBase, Platform, StageBase, load

    df = load(data)
    plan = df.plan(platform=Platform())
    configs: dict[int, dict] = {}
    steps = 0
    for planned in plan.stages:
        if isinstance(planned.base, StageBase):
            base = configs[planned.base.index]
        elif isinstance(planned.base, ImageBase):
            base = {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Cmd": ["bash"]}
        else:
            base = None
        result = plan.evaluate(planned, base)
        configs[planned.stage.index] = result.state.config
        steps += len(result.steps)
    return steps


@figure("parse.5000", "parse + evaluate a generated 5,000-instruction Dockerfile",
        rows=[Row(target=0.2, issue="2/7 frontend")], runs=7, warmup=1)
def parse_5000(ctx: Context) -> dict[str, list[float]]:
    instructions = ctx.bench.pick(500, 5000)
    data = generate(instructions)
    steps = parse_and_evaluate(data)
    ctx.note(f"{instructions} instructions, {len(data)} bytes, {steps} steps evaluated")
    return ctx.alternate([Side("minidock", lambda: parse_and_evaluate(data))])


FIGURES = (parse_5000,)
