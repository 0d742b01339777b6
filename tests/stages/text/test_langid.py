"""Language ID with the offline lid.176 model: tags every document, drops by named reason."""

import pickle

from corpusforge.core.document import Document
from corpusforge.stages.text.langid import LanguageId

TEXTS = {
    "en": "The river rose by two metres overnight after heavy rain, and the council closed the old bridge.",
    "fr": "La rivière a monté de deux mètres pendant la nuit après de fortes pluies, et le pont est fermé.",
    "de": "Der Fluss ist über Nacht nach starkem Regen um zwei Meter gestiegen, die Brücke wurde gesperrt.",
    "es": "El río subió dos metros durante la noche tras las fuertes lluvias y el puente fue cerrado.",
    "ru": "Река поднялась за ночь на два метра после сильных дождей, и старый мост был закрыт.",
}


def _docs():
    return [Document(lang, text) for lang, text in TEXTS.items()]


def test_english_is_kept_and_others_dropped_as_not_allowed():
    stage = LanguageId(batch_size=2)  # batches cut mid-stream must not lose documents
    kept = list(stage.run(_docs()))
    assert [d.id for d in kept] == ["en"]
    assert kept[0].meta["language"] == "en" and kept[0].meta["language_score"] > 0.65
    assert stage.ledger.dropped == {"language_not_allowed": 4}
    assert stage.ledger.extra["languages"] == {"en": 1, "fr": 1, "de": 1, "es": 1, "ru": 1}
    assert stage.ledger.balanced


def test_languages_none_tags_everything():
    docs = list(LanguageId(languages=None).run(_docs()))
    assert [(d.id, d.meta["language"]) for d in docs] == [(k, k) for k in TEXTS]


def test_low_scores_are_dropped_with_their_own_reason():
    stage = LanguageId(languages=["en", "fr"], min_score=0.999)
    docs = [Document("a", "ok ok"), Document("b", TEXTS["fr"])]
    kept = list(stage.run(docs))
    assert "language_score_low" in stage.ledger.dropped
    assert all(d.meta["language_score"] > 0.999 for d in kept)
    assert stage.ledger.balanced


def test_newlines_do_not_cut_the_text():
    # fastText reads one line: a French first line must not decide for an English page.
    text = "Bonjour\n" + "\n".join([TEXTS["en"]] * 3)
    (doc,) = LanguageId(languages=None).run([Document("x", text)])
    assert doc.meta["language"] == "en"


def test_stage_pickles_by_config():
    stage = LanguageId(languages=["de"])
    clone = pickle.loads(pickle.dumps(stage))
    assert [d.id for d in clone.run(_docs())] == ["de"]
