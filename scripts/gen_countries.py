#!/usr/bin/env python3
"""Regenerates engine/src/lists/country_table.rs from the ISO 3166 data of `pycountry`
(pip install pycountry). Run from the repository root."""
import pycountry

rows = []
for country in pycountry.countries:
    names = {country.name}
    for attribute in ("official_name", "common_name"):
        if hasattr(country, attribute):
            names.add(getattr(country, attribute))
    rows.append((country.alpha_2, sorted(names)))

out = [
    "//! ISO 3166-1 alpha-2 codes and English names, generated from the ISO 3166 data of the",
    "//! `pycountry` package (see `scripts/gen_countries.py`). Do not edit by hand:",
    "//! regenerate it. Spellings the lists use beyond these live in `country.rs`.",
    "",
    "/// (alpha-2, every English name known for it), sorted by code.",
    "pub(crate) const COUNTRIES: &[(&str, &[&str])] = &[",
]
for code, names in sorted(rows):
    quoted = ", ".join('"%s"' % n.replace('"', '\\"') for n in names)
    out.append('    ("%s", &[%s]),' % (code, quoted))
out.append("];")
with open("engine/src/lists/country_table.rs", "w") as f:
    f.write("\n".join(out) + "\n")
