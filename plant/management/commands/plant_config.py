"""Export a plant's configuration to YAML, or check and apply such a file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from plant.config_file.exporter import export_text
from plant.config_file.importer import import_text
from plant.models import Plant


class Command(BaseCommand):
    help = (
        "export <plant-slug> [-o file]: the plant's configuration as YAML. "
        "import <file> [--apply] [--prune]: what the file would create, change and remove "
        "(a dry run), or with --apply do it in one transaction."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True)
        export = commands.add_parser("export", help="Write the plant's configuration.")
        export.add_argument("plant", help="The plant's slug.")
        export.add_argument("-o", "--output", help="The file to write (default: stdout).")
        imported = commands.add_parser("import", help="Compare a file with the database.")
        imported.add_argument("file", help="The YAML file ('-' reads stdin).")
        imported.add_argument("--apply", action="store_true", help="Make the changes.")
        imported.add_argument(
            "--prune", action="store_true",
            help="Also remove lines, machines, tags, alarms, actions and loops the file no "
            "longer names (never ones with history).",
        )  # fmt: skip

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "export":
            self._export(options["plant"], options["output"])
        else:
            self._import(options["file"], apply=options["apply"], prune=options["prune"])

    def _export(self, slug: str, output: str | None) -> None:
        plant = Plant.objects.filter(slug=slug).first()
        if plant is None:
            known = ", ".join(Plant.objects.values_list("slug", flat=True)) or "none"
            raise CommandError(f"No plant {slug!r} (plants: {known}).")
        text = export_text(plant)
        if output:
            Path(output).write_text(text, encoding="utf-8")
            self.stderr.write(f"{plant.name}: written to {output}")
        else:
            self.stdout.write(text, ending="")

    def _import(self, file: str, *, apply: bool, prune: bool) -> None:
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {file}: {error}") from error
        result = import_text(text, filename=file, apply=apply, prune=prune)
        for line in result.lines():
            self.stdout.write(line)
        if result.errors:
            for problem in result.errors:
                self.stderr.write(problem)
            raise CommandError(f"{len(result.errors)} errors: nothing changed.")
        counts = result.counts()
        summary = (
            f"{counts['create']} to create, {counts['change']} to change, "
            f"{counts['remove']} to remove, {counts['unlisted']} not in the file"
        )
        if apply:
            self.stdout.write(f"Applied: {summary}.")
        else:
            self.stdout.write(f"Dry run: {summary}. Nothing changed; --apply makes it so.")
