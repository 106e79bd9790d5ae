"""MkDocs hooks: fill the generated parts of the pages from the code, at build time.

A page asks for a generated part with an HTML comment on a line of its own:

    <!-- gen:config-reference -->     every key of config/settings.py with type, default, per-environment value
    <!-- gen:pipeline-parameters -->  the definition's declared parameters (built as `cdk synth` builds it)
    <!-- gen:pipeline-steps -->       the definition's steps
    <!-- gen:nag-acknowledgments -->  the acknowledged cdk-nag findings and checkov skips (synthesized for the build)
    <!-- gen:cost -->                 COST.md, embedded (when it exists)
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import tomllib
import types
import typing
from functools import cache
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"^<!-- gen:([a-z-]+) -->$", re.MULTILINE)


def on_config(config, **kwargs):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import jsii_node

    jsii_node.prepare()  # the generated parts synthesize the app: on the project's Node, before aws_cdk starts it
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise ValueError(f"{page.file.src_uri}: unknown generated part {name!r} (known: {', '.join(GENERATORS)})")
        return GENERATORS[name]()

    return MARKER.sub(replace, markdown)


# -- helpers --------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as a table cell: code-formatted, pipes escaped."""
    if value is None:
        return "*unset*"
    if isinstance(value, bool):
        text = str(value).lower()
    elif isinstance(value, str | int | float):
        text = json.dumps(value) if isinstance(value, str) else str(value)
    elif isinstance(value, tuple | list):
        text = json.dumps(list(value))
    elif isinstance(value, dict):
        text = json.dumps(value)
    else:
        text = str(value)
    return "`" + text.replace("|", "\\|") + "`"


def type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"list of {type_name(args[0])}"
    if origin is dict:
        return f"table of {type_name(args[0])} → {type_name(args[1])}"
    if annotation is type(None):
        return "unset"
    return getattr(annotation, "__name__", str(annotation))


def table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


@cache
def toml_comments() -> dict[str, str]:
    """`table.key` -> the comment beside it in environments.toml (also for commented-out example keys)."""
    comments: dict[str, str] = {}
    current = ""
    for line in (ROOT / "config" / "environments.toml").read_text(encoding="utf-8").splitlines():
        header = re.match(r"^\[+([^\]]+)\]+", line)
        if header:
            current = header.group(1)
            continue
        entry = re.match(r"^#?\s*([a-z_]+)\s*=\s*[^#]*#\s*(.+)$", line)
        if entry and current.startswith("defaults"):
            section = current[len("defaults") :].lstrip(".")
            comments[f"{section}.{entry.group(1)}".lstrip(".")] = entry.group(2).strip()
    return comments


# -- configuration reference ----------------------------------------------------------------------


def config_reference() -> str:
    from config.settings import CONFIG_FILE, EnvironmentConfig, ScheduleConfig, load_all

    environments = load_all()
    names = sorted(environments)
    comments = toml_comments()
    # The Default column is the [defaults] table's value: settings.py writes no default of its own.
    document = tomllib.loads(CONFIG_FILE.read_text(encoding="utf-8"))
    defaults_table = {
        f"{section}.{name}".lstrip("."): value
        for section, table in [
            ("", document["defaults"]),
            *((s, t) for s, t in document["defaults"].items() if isinstance(t, dict)),
        ]
        for name, value in table.items()
        if not isinstance(value, dict | list)
    }
    hints = typing.get_type_hints(EnvironmentConfig)
    out = [
        f"Generated from `config/settings.py` (the schema) and `{CONFIG_FILE.relative_to(ROOT)}` (the values) "
        f"when this site was built. Environments: {', '.join(f'`{n}`' for n in names)}."
    ]

    def rows_of(cls: type, prefix: str, values: dict[str, Any]) -> list[list[str]]:
        rows = []
        cls_hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name == "name" and cls is EnvironmentConfig:
                continue
            annotation = cls_hints[f.name]
            if dataclasses.is_dataclass(annotation) or annotation == tuple[ScheduleConfig, ...]:
                continue
            key = f"{prefix}{f.name}"
            if key in defaults_table:
                default = cell(defaults_table[key])
            elif f.default is not dataclasses.MISSING:
                default = cell(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                default = cell(f.default_factory())
            else:
                default = "required"
            per_env = [cell(values[n](f.name)) for n in names]
            note = comments.get(key, "")
            rows.append([f"`{key}`", type_name(annotation), default, *per_env, note.replace("|", "\\|")])
        return rows

    headers = ["Key", "Type", "Default", *[f"`{n}`" for n in names], "Note"]
    top = rows_of(EnvironmentConfig, "", {n: (lambda c: lambda name: getattr(c, name))(environments[n]) for n in names})
    out += [
        "",
        "## Top level",
        "",
        "Keys of `[defaults]` and of each `[environments.<name>]` table.",
        "",
        table(headers, top),
    ]
    for f in dataclasses.fields(EnvironmentConfig):
        section = hints[f.name]
        if not dataclasses.is_dataclass(section):
            continue
        getters = {n: (lambda sub: lambda name: getattr(sub, name))(getattr(environments[n], f.name)) for n in names}
        doc = " ".join((section.__doc__ or "").split())
        out += ["", f"## `[{f.name}]`", "", doc, "", table(headers, rows_of(section, f"{f.name}.", getters))]

    out += ["", "## `[[schedules]]`", "", " ".join((ScheduleConfig.__doc__ or "").split()), ""]
    schedule_hints = typing.get_type_hints(ScheduleConfig)
    fields = [
        f"`{f.name}` ({type_name(schedule_hints[f.name])}"
        + (f", default {cell(f.default)}" if f.default is not dataclasses.MISSING else ", required")
        + ")"
        for f in dataclasses.fields(ScheduleConfig)
    ]
    out += ["Each schedule has " + ", ".join(fields) + ".", ""]
    rows = [
        [f"`{n}`", f"`{s.name}`", cell(s.expression), cell(s.timezone), cell(s.enabled), cell(s.parameters)]
        for n in names
        for s in environments[n].schedules
    ]
    out.append(table(["Environment", "Name", "Expression", "Timezone", "Enabled", "Parameters"], rows))
    out += [
        "",
        "## Derived names",
        "",
        table(
            ["", *[f"`{n}`" for n in names]],
            [
                ["Stack", *[f"`{environments[n].stack_name}`" for n in names]],
                [
                    "Pipeline, model package group (`resource_prefix`)",
                    *[f"`{environments[n].resource_prefix}`" for n in names],
                ],
            ],
        ),
    ]
    return "\n".join(out)


# -- pipeline -------------------------------------------------------------------------------------

PARAMETER_NOTES = {
    "use_type": "Which branch runs: `train` (O*NET ETL on EMR, split, train, evaluate, gate) or `predict`.",
    "onet_input_uri": "Folder of the O*NET *Occupation Data* and *Alternate Titles* files (.xlsx or .txt).",
    "input_titles_uri": "predict: folder of CSV or Parquet files with a `title` column (optional `id`).",
    "execution_date": "predict: the `execution_date=` partition the predictions are written to "
    "(under it, one `execution_id=` folder per execution).",
    "predict_engine": "predict: `processing` prepares the titles in a processing job (no EMR); "
    "`emr` runs the titles ETL on EMR first.",
    "predict_instance_count": "predict: instances of PreprocessPredict and BatchPredict, each streaming its "
    "share of the files.",
    "split_seed": "Seed of the split by occupation (same seed, same split).",
    "validation_fraction": "Share of occupations held out for validation.",
    "test_fraction": "Share of occupations held out for the test metrics.",
    "model_c": "Regularization of the linear model (inverse strength).",
    "word_ngram_max": "Longest word n-gram of the TF-IDF features.",
    "char_ngram_min": "Shortest character n-gram.",
    "char_ngram_max": "Longest character n-gram.",
    "min_macro_f1": "The quality gate's absolute threshold on the unseen-occupation (held-out) macro-F1.",
    "model_approval_status": "Approval status a model that passes the gate is registered with.",
}


@cache
def definitions() -> dict[str, dict[str, Any]]:
    """Each environment's definition, built by the same builder as `cdk synth`, with local stand-ins for ARNs."""
    from config import load_all
    from workflow.definition import StepCode
    from workflow.definition.builder import build_definition
    from workflow.local.run import local_spec

    code = StepCode(
        steps_archive_uri="s3://assets/steps.zip",
        etl_script_uri="s3://assets/etl.py",
        training_source_uri="s3://assets/train.tar.gz",
        etl_dependencies_uri="s3://assets/etl-dependencies.zip",
    )
    built = {}
    for name, config in sorted(load_all().items()):
        spec = local_spec(config, code)
        text = build_definition(spec)
        for role, bucket in dataclasses.asdict(spec.buckets).items():
            text = text.replace(bucket, f"<{role} bucket>")
        built[name] = json.loads(text)
    return built


def pipeline_parameters() -> str:
    from workflow.definition import declared_parameters

    built = definitions()
    names = list(built)
    declared = {n: declared_parameters(json.dumps(d)) for n, d in built.items()}
    first = built[names[0]]["Parameters"]
    rows = []
    for p in first:
        allowed = ", ".join(f"`{v}`" for v in p.get("EnumValues") or []) or ""
        defaults = [cell(declared[n].get(p["Name"])) for n in names]
        rows.append([f"`{p['Name']}`", p["Type"], allowed, *defaults, PARAMETER_NOTES.get(p["Name"], "")])
    return (
        "Generated from `declared_parameters(build_definition(spec))` for each environment "
        "(bucket names shown as `<raw bucket>` etc.: the deployed stack names its buckets).\n\n"
        + table(["Parameter", "Type", "Allowed", *[f"Default in `{n}`" for n in names], "What it does"], rows)
    )


def pipeline_steps() -> str:
    definition = next(iter(definitions().values()))
    rows = []

    def walk(steps: list[dict[str, Any]], branch: str) -> None:
        for step in steps:
            rows.append([f"`{step['Name']}`", step["Type"], branch, " ".join((step.get("Description") or "").split())])
            arguments = step.get("Arguments") or {}
            if step["Type"] == "Condition":
                walk(arguments.get("IfSteps") or [], f"if `{step['Name']}` is true")
                walk(arguments.get("ElseSteps") or [], f"if `{step['Name']}` is false")

    walk(definition["Steps"], "always")
    return table(["Step", "Type", "Runs", "Description"], rows)


# -- security -------------------------------------------------------------------------------------


@cache
def cloud_assembly() -> Path:
    """The app synthesized now, as `cdk synth` does (cdk.json's context, the cdk-nag packs), into a temporary
    folder: the page lists what the code acknowledges, never what an older `cdk.out/` held."""
    import atexit
    import shutil
    import tempfile

    from app import build_app
    from config import load_all

    outdir = Path(tempfile.mkdtemp(prefix="jobclf-docs-assembly-"))
    atexit.register(shutil.rmtree, outdir, ignore_errors=True)
    context = json.loads((ROOT / "cdk.json").read_text(encoding="utf-8"))["context"]
    build_app(load_all(), context=context, outdir=str(outdir)).synth()
    return outdir


def nag_acknowledgments() -> str:
    stacks = sorted(cloud_assembly().glob("JobClf-*.metadata.json"))
    findings: dict[tuple[str, str], str] = {}
    for path in stacks:
        stack = path.name[: -len(".metadata.json")]
        metadata = json.loads(path.read_text(encoding="utf-8"))
        for construct, entries in metadata.items():
            for entry in entries:
                if entry.get("type") != "aws:cdk:acknowledged-rules":
                    continue
                where = construct.removeprefix(f"/{stack}/")
                for rule, reason in (entry.get("data") or {}).items():
                    findings[(rule.removeprefix("Annotation::"), where)] = reason
        template = json.loads(path.with_name(f"{stack}.template.json").read_text(encoding="utf-8"))
        for resource in template.get("Resources", {}).values():
            where = (resource.get("Metadata") or {}).get("aws:cdk:path", "").removeprefix(f"{stack}/")
            for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip") or []:
                findings[(f"checkov {skip['id']}", where)] = skip.get("comment", "")
    rows = [
        [f"`{rule}`".replace("|", "\\|"), f"`{where}`", " ".join(reason.split()).replace("|", "\\|")]
        for (rule, where), reason in sorted(findings.items())
    ]
    return (
        f"{len(rows)} acknowledged findings of {', '.join(p.name.split('.')[0] for p in stacks)}, from a synth "
        "of this code when this site was built.\n\n" + table(["Finding", "Construct", "Why it is acceptable"], rows)
    )


def cost() -> str:
    path = ROOT / "COST.md"
    if not path.is_file():
        return (
            '!!! note "COST.md is not in this checkout yet"\n\n'
            "    The cost estimate lives in `COST.md` at the root of the repository; this page embeds it when it exists."
        )
    text = path.read_text(encoding="utf-8")
    # Demote its headings by one level: this page has its own title.
    return "*Embedded from `COST.md` at the root of the repository.*\n\n" + re.sub(
        r"^(#+) ", lambda m: "#" + m.group(1) + " ", text, flags=re.MULTILINE
    )


GENERATORS = {
    "config-reference": config_reference,
    "pipeline-parameters": pipeline_parameters,
    "pipeline-steps": pipeline_steps,
    "nag-acknowledgments": nag_acknowledgments,
    "cost": cost,
}
