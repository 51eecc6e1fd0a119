"""A plant's configuration as a YAML file: export it, check an edited file, apply it.

`schema` names every exported field of every model in the file's order, `located` reads YAML
keeping each value's line, `exporter` writes the file, `importer` compares a file with the
database and applies it in one transaction (manage.py plant_config, the admin's page).
"""
