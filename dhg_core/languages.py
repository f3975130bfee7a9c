"""Whisper's languages, in its order (a multilingual model of N languages knows the first N), with their names in
words as OpenAI's verbose_json gives them ("english" for "en").

The table openai-whisper keeps (whisper.tokenizer.LANGUAGES, MIT licence), held here so that the ASR images, which
carry faster-whisper and not openai-whisper, answer as the OpenAI API does, and so that the TranscriptionJob resource
(whose controller imports no Whisper code) lists the same codes; tests/asr compares it with openai-whisper's.
"""

from __future__ import annotations

LANGUAGES: dict[str, str] = {
    "en": "english",
    "zh": "chinese",
    "de": "german",
    "es": "spanish",
    "ru": "russian",
    "ko": "korean",
    "fr": "french",
    "ja": "japanese",
    "pt": "portuguese",
    "tr": "turkish",
    "pl": "polish",
    "ca": "catalan",
    "nl": "dutch",
    "ar": "arabic",
    "sv": "swedish",
    "it": "italian",
    "id": "indonesian",
    "hi": "hindi",
    "fi": "finnish",
    "vi": "vietnamese",
    "he": "hebrew",
    "uk": "ukrainian",
    "el": "greek",
    "ms": "malay",
    "cs": "czech",
    "ro": "romanian",
    "da": "danish",
    "hu": "hungarian",
    "ta": "tamil",
    "no": "norwegian",
    "th": "thai",
    "ur": "urdu",
    "hr": "croatian",
    "bg": "bulgarian",
    "lt": "lithuanian",
    "la": "latin",
    "mi": "maori",
    "ml": "malayalam",
    "cy": "welsh",
    "sk": "slovak",
    "te": "telugu",
    "fa": "persian",
    "lv": "latvian",
    "bn": "bengali",
    "sr": "serbian",
    "az": "azerbaijani",
    "sl": "slovenian",
    "kn": "kannada",
    "et": "estonian",
    "mk": "macedonian",
    "br": "breton",
    "eu": "basque",
    "is": "icelandic",
    "hy": "armenian",
    "ne": "nepali",
    "mn": "mongolian",
    "bs": "bosnian",
    "kk": "kazakh",
    "sq": "albanian",
    "sw": "swahili",
    "gl": "galician",
    "mr": "marathi",
    "pa": "punjabi",
    "si": "sinhala",
    "km": "khmer",
    "sn": "shona",
    "yo": "yoruba",
    "so": "somali",
    "af": "afrikaans",
    "oc": "occitan",
    "ka": "georgian",
    "be": "belarusian",
    "tg": "tajik",
    "sd": "sindhi",
    "gu": "gujarati",
    "am": "amharic",
    "yi": "yiddish",
    "lo": "lao",
    "uz": "uzbek",
    "fo": "faroese",
    "ht": "haitian creole",
    "ps": "pashto",
    "tk": "turkmen",
    "nn": "nynorsk",
    "mt": "maltese",
    "sa": "sanskrit",
    "lb": "luxembourgish",
    "my": "myanmar",
    "bo": "tibetan",
    "tl": "tagalog",
    "mg": "malagasy",
    "as": "assamese",
    "tt": "tatar",
    "haw": "hawaiian",
    "ln": "lingala",
    "ha": "hausa",
    "ba": "bashkir",
    "jw": "javanese",
    "su": "sundanese",
    "yue": "cantonese",
}


def language_name(code: str) -> str:
    """The language's name in words; an unknown code as it is."""
    return LANGUAGES.get(code, code)


_BY_NAME = {name: code for code, name in LANGUAGES.items()}
AUTO = ("", "auto")


def language_code(language: str | None) -> str | None:
    """The language a request names, as Whisper's code: an ISO-639-1 code (any case) or a name ("English");
    None for none or `auto` (detect it). ValueError for one Whisper does not know."""
    if language is None or language.strip().lower() in AUTO:
        return None
    wanted = language.strip().lower()
    if wanted in LANGUAGES:
        return wanted
    if wanted in _BY_NAME:
        return _BY_NAME[wanted]
    shown = language if len(language) <= 40 else language[:40] + "..."
    raise ValueError(f"language {shown!r} is not one Whisper knows: give an ISO-639-1 code such as 'en' or 'de'")
