"""Importers: read CSV files row by row, validate every row, then write the whole file at once.

``csv_reader`` turns a file into records that know the physical line they start on;
``desk_csv`` validates and writes desk's own columns (and exports them again).
The core never imports the user interfaces: the CLI only calls ``desk_csv.import_file``.
"""
