from dhg_core import formats

TRANSCRIPT = {
    "text": "Hello there. General Kenobi.",
    "segments": [
        {"start": 0.0, "end": 1.5, "text": " Hello there."},
        {"start": 3661.25, "end": 3662.0, "text": " General\tKenobi. "},
    ],
}


def test_timestamps_round_to_milliseconds_and_carry_hours():
    assert formats.timestamp(0) == "00:00:00.000"
    assert formats.timestamp(3661.2506, decimal=",") == "01:01:01,251"
    assert formats.timestamp(59.9996) == "00:01:00.000"
    assert formats.timestamp(-1) == "00:00:00.000"


def test_srt_numbers_cues_from_one_with_comma_decimals():
    assert formats.write_srt(TRANSCRIPT) == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n01:01:01,250 --> 01:01:02,000\nGeneral Kenobi.\n"
    )


def test_vtt_has_header_and_dot_decimals():
    rendered = formats.write_vtt(TRANSCRIPT)
    assert rendered.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n")
    assert "01:01:01.250 --> 01:01:02.000\nGeneral Kenobi.\n" in rendered


def test_tsv_uses_integer_milliseconds_and_no_tabs_in_text():
    assert (
        formats.write_tsv(TRANSCRIPT) == "start\tend\ttext\n0\t1500\tHello there.\n3661250\t3662000\tGeneral Kenobi.\n"
    )


def test_text_is_one_line_per_segment_and_falls_back_to_full_text():
    assert formats.write_text(TRANSCRIPT) == "Hello there.\nGeneral Kenobi.\n"
    assert formats.write_text({"text": " Just text ", "segments": []}) == "Just text\n"


def test_render_gives_media_types_and_refuses_unknown_formats():
    body, media_type = formats.render(TRANSCRIPT, "json")
    assert media_type == "application/json" and '" General\\tKenobi. "' in body
    try:
        formats.render(TRANSCRIPT, "docx")
    except KeyError:
        pass
    else:
        raise AssertionError("unknown format accepted")
