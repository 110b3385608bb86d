"""Malformed files and mismatched maps: the right error class and a message that names the fix."""

import pytest

from sim.exceptions import ChannelMapError, ConfigurationError, TelemetryFileError, UnitConversionError
from sim.telemetry import ChannelMap, read_csv

MAP = ChannelMap.from_dict({
    "separator": ",",
    "channels": {
        "motor_current": {"column": "M1_Current", "unit": "A", "si_unit": "A"},
        "winding_temperature": {"column": "M1_Winding_T", "unit": "degC", "si_unit": "K"},
    },
})
AUTO = ChannelMap.from_dict({**MAP.to_dict(), "separator": "auto"})


def write(tmp_path, text, name="export_0815.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(TelemetryFileError) as info:
        read_csv(tmp_path / "export_0815.csv", MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "does not exist" in message and "fix" in message


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(TelemetryFileError, match="cannot be read"):
        read_csv(tmp_path, MAP)


def test_empty_file(tmp_path):
    with pytest.raises(TelemetryFileError, match=r"export_0815.csv' is empty \(0 bytes\).*fix"):
        read_csv(write(tmp_path, ""), MAP)


def test_header_only_file(tmp_path):
    with pytest.raises(TelemetryFileError, match="export_0815.csv' has a header but no data rows.*fix"):
        read_csv(write(tmp_path, "timestamp,M1_Current,M1_Winding_T\n"), MAP)


def test_blank_first_line(tmp_path):
    with pytest.raises(TelemetryFileError, match="no header"):
        read_csv(write(tmp_path, "\n2024-01-01,1,2\n"), MAP)


SEMICOLON = "timestamp;M1_Current;M1_Winding_T\n2024-01-01T00:00:00Z;12,5;80,25\n2024-01-01T00:00:01Z;13;81\n"


def test_semicolon_file_with_comma_configured(tmp_path):
    with pytest.raises(TelemetryFileError) as info:
        read_csv(write(tmp_path, SEMICOLON), MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "separator: ';'" in message and "single column" in message


def test_semicolon_file_with_auto_separator_and_decimal_comma(tmp_path):
    channel_map = ChannelMap.from_dict({**MAP.to_dict(), "separator": "auto", "decimal": ","})
    stream = read_csv(write(tmp_path, SEMICOLON), channel_map)
    assert stream.frame["motor_current"].tolist() == [12.5, 13.0]
    assert stream.frame["winding_temperature"].tolist() == pytest.approx([353.4, 354.15])
    assert stream.quarantine.empty


def test_decimal_comma_unquoted_in_comma_file_is_a_malformed_line(tmp_path):
    text = "timestamp,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,12,5,80\n"
    with pytest.raises(TelemetryFileError) as info:
        read_csv(write(tmp_path, text), MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "line 2" in message and "separator: ';'" in message


def test_unbalanced_quote_is_a_malformed_file(tmp_path):
    text = 'timestamp,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,"12,80\n2024-01-01T00:00:01Z,1,2\n'
    with pytest.raises(TelemetryFileError, match="export_0815.csv.*never closes"):
        read_csv(write(tmp_path, text), MAP)


def test_unknown_column(tmp_path):
    text = "timestamp,M1_Current,M1_Winding_T,M1_Voltage\n2024-01-01T00:00:00Z,1,2,400\n"
    with pytest.raises(ChannelMapError) as info:
        read_csv(write(tmp_path, text), MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "'M1_Voltage'" in message
    assert "add a channel" in message and "'M1_Current'" in message  # lists the mapped columns


def test_renamed_column_suggests_the_mapped_one(tmp_path):
    text = "timestamp,M1_Current,M1_Winding_Temp\n2024-01-01T00:00:00Z,1,2\n"
    with pytest.raises(ChannelMapError, match="did you mean 'M1_Winding_T' for 'M1_Winding_Temp'"):
        read_csv(write(tmp_path, text), MAP)


def test_missing_column(tmp_path):
    with pytest.raises(ChannelMapError) as info:
        read_csv(write(tmp_path, "timestamp,M1_Current\n2024-01-01T00:00:00Z,1\n"), MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "'M1_Winding_T'" in message and "missing" in message
    assert "fix" in message


def test_missing_time_column(tmp_path):
    with pytest.raises(ChannelMapError) as info:
        read_csv(write(tmp_path, "Zeit,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,1,2\n"), MAP)
    message = str(info.value)
    assert "export_0815.csv" in message and "'timestamp'" in message and "time_column" in message


def test_duplicated_header_column(tmp_path):
    text = "timestamp,M1_Current,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,1,1,2\n"
    with pytest.raises(ChannelMapError, match="'M1_Current'.*more than once"):
        read_csv(write(tmp_path, text), MAP)


def test_no_separator_in_header(tmp_path):
    with pytest.raises(TelemetryFileError, match="cannot detect the separator"):
        read_csv(write(tmp_path, "just some text\nmore\n"), AUTO)


def test_unconvertible_unit_from_yaml_names_file_column_and_fix(tmp_path):
    path = tmp_path / "line1_channels.yaml"
    path.write_text(
        "separator: auto\n"
        "channels:\n"
        "  winding_temperature: {column: M1_Winding_T, unit: C, si_unit: K, range: [-40, 250]}\n",
        encoding="utf-8",
    )
    with pytest.raises(UnitConversionError) as info:
        ChannelMap.from_yaml(path)
    message = str(info.value)
    assert "line1_channels.yaml" in message and "M1_Winding_T" in message and "write 'degC'" in message


def test_bad_arguments_are_configuration_errors(tmp_path):
    path = write(tmp_path, "timestamp,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,1,2\n")
    with pytest.raises(ConfigurationError, match="ChannelMap"):
        read_csv(path, MAP.to_dict())  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="chunksize"):
        read_csv(path, MAP, chunksize=0)


def test_bom_and_crlf_from_excel_exports(tmp_path):
    text = "\ufefftimestamp,M1_Current,M1_Winding_T\r\n2024-01-01T00:00:00Z,1,2\r\n2024-01-01T00:00:01Z,3,4\r\n"
    stream = read_csv(write(tmp_path, text), MAP)
    assert stream.frame["motor_current"].tolist() == [1.0, 3.0]
    assert stream.quarantine.empty


def test_undecodable_bytes_are_quarantined_not_fatal(tmp_path):
    text = b"timestamp,M1_Current,M1_Winding_T\n2024-01-01T00:00:00Z,\xff\xfe,2\n2024-01-01T00:00:01Z,3,4\n"
    stream = read_csv(write(tmp_path, text), MAP)
    (entry,) = stream.quarantine.itertuples()
    assert (entry.row, entry.channel, entry.gate) == (1, "motor_current", "unparseable")
    assert "\ufffd" in entry.raw_value
