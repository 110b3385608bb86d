"""Twinbench's Hydra configuration (YAML groups). A regular package so that Hydra finds it as pkg://conf from an
installed or editable twinbench, whatever the working directory."""
