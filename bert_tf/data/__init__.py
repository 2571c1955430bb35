"""Task data: processors reading GLUE, XNLI, your own TSV/CSV or TFDS data into `InputExample`s."""

from bert_tf.data.custom import CsvProcessor, TsvProcessor
from bert_tf.data.glue import (
    ColaProcessor,
    GlueProcessor,
    MnliMismatchedProcessor,
    MnliProcessor,
    MrpcProcessor,
    QnliProcessor,
    QqpProcessor,
    RteProcessor,
    Sst2Processor,
    StsbProcessor,
    WnliProcessor,
    XnliProcessor,
)
from bert_tf.data.processors import (
    DataFormatError,
    DataProcessor,
    MissingDataError,
    get_processor,
    read_rows,
    task_names,
)
from bert_tf.data.tfds_tasks import TfdsProcessor

__all__ = [
    "ColaProcessor",
    "CsvProcessor",
    "DataFormatError",
    "DataProcessor",
    "GlueProcessor",
    "MissingDataError",
    "MnliMismatchedProcessor",
    "MnliProcessor",
    "MrpcProcessor",
    "QnliProcessor",
    "QqpProcessor",
    "RteProcessor",
    "Sst2Processor",
    "StsbProcessor",
    "TfdsProcessor",
    "TsvProcessor",
    "WnliProcessor",
    "XnliProcessor",
    "get_processor",
    "read_rows",
    "task_names",
]
