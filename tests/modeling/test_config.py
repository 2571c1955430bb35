"""BertConfig: bert_config.json fields, extras, validation errors that name file and field."""

import json

import pytest

from bert_tf.modeling import BertConfig, ConfigError


def write_json(path, values):
    path.write_text(json.dumps(values))
    return str(path)


def test_round_trip_keeps_fields_and_extra_keys(tmp_path, tiny_config_dict):
    tiny_config_dict.update(directionality="bidi", pooler_fc_size=768, pooler_type="first_token_transform")
    config = BertConfig.from_json_file(write_json(tmp_path / "bert_config.json", tiny_config_dict))
    assert config.hidden_size == 32 and config.head_size == 8
    assert config.extra == {"directionality": "bidi", "pooler_fc_size": 768,
                            "pooler_type": "first_token_transform"}
    config.to_json_file(tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == tiny_config_dict
    assert BertConfig.from_json_file(tmp_path / "out.json") == config


@pytest.mark.parametrize("change, field", [
    (lambda c: c.pop("vocab_size"), "'vocab_size'"),
    (lambda c: c.pop("num_attention_heads"), "'num_attention_heads'"),
    (lambda c: c.update(num_attention_heads=5), "'hidden_size'"),
    (lambda c: c.update(hidden_act="gelu_fancy"), "'hidden_act'"),
    (lambda c: c.update(num_hidden_layers="12"), "'num_hidden_layers'"),
    (lambda c: c.update(hidden_dropout_prob=1.5), "'hidden_dropout_prob'"),
])
def test_invalid_config_names_file_and_field(tmp_path, tiny_config_dict, change, field):
    change(tiny_config_dict)
    path = write_json(tmp_path / "bert_config.json", tiny_config_dict)
    with pytest.raises(ConfigError) as err:
        BertConfig.from_json_file(path)
    message = str(err.value)
    assert path in message and field in message and "\n" not in message


def test_not_json_and_missing_file(tmp_path):
    bad = tmp_path / "bert_config.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        BertConfig.from_json_file(str(bad))
    with pytest.raises(ConfigError, match="no such config file"):
        BertConfig.from_json_file(str(tmp_path / "absent.json"))
