import pytest

from corpusforge.pipelines.registry import STAGES, stage_class
from corpusforge.stages.base import Stage


@pytest.mark.parametrize("name", sorted(STAGES))
def test_every_registered_stage_is_found_under_its_own_name(name):
    cls = stage_class(name)
    assert issubclass(cls, Stage) and cls.type == name
    if not any(f.is_required() for f in cls.Config.model_fields.values()):
        stage = cls()
        assert stage.name == name and stage.config.type == name


def test_a_registry_entry_under_another_name_is_refused(monkeypatch):
    monkeypatch.setitem(STAGES, "c4_alias", STAGES["c4"])
    with pytest.raises(KeyError, match="whose type is 'c4'"):
        stage_class("c4_alias")
