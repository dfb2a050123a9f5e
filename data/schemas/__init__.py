"""Schemas shipped with sdsynth (YAML files in this folder), loadable by name: `--schema ctdc-victim-perpetrator`."""
