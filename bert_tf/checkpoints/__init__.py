"""Readers and writers for the weight formats BERT users hold."""

from bert_tf.checkpoints.errors import CheckpointError, LoadReport
from bert_tf.checkpoints.google import (CKPT_NAME, CONFIG_NAME, VOCAB_NAME, GoogleCheckpointReader,
                                        assign_weights, load_google_checkpoint, model_tensors,
                                        resolve_checkpoint_prefix, save_google_checkpoint,
                                        save_google_folder)
from bert_tf.checkpoints.hf import hf_name_to_google, read_hf_config, read_hf_weights
from bert_tf.checkpoints.mapping import google_weight_map
from bert_tf.checkpoints.pretrained import (detect_format, load_pretrained, load_weights_into,
                                           read_pretrained_config)
from bert_tf.checkpoints.squad_info import SQUAD_INFO_NAME, SquadInfo, read_squad_info
