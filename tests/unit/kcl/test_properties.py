"""The production KCL properties agree with the local driver's defaults and the processor."""

from __future__ import annotations

import tomllib

from consumers.settings import PROJECT_DIR, Settings


def properties() -> dict[str, str]:
    out = {}
    for line in (PROJECT_DIR / "infra" / "kcl" / "consumer.properties").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_properties_match_the_local_runtime():
    props = properties()
    settings = Settings()
    assert props["streamName"] == settings.stream_name
    assert props["regionName"] == settings.region
    assert props["applicationName"] == "totesys-cdc-consumer"  # `cdc consume` default
    assert props["initialPositionInStream"] == "TRIM_HORIZON"
    assert props["callProcessRecordsEvenForEmptyRecordList"] == "true"
    scripts = tomllib.loads((PROJECT_DIR / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[props["executableName"]] == "consumers.kcl.processor:main"
