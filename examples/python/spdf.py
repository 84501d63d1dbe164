"""ctypes binding of libspdf, the C library for sparse pre-training and dense fine-tuning (SPDF)
of GPT-style models on the CPU.

One file, standard library only: installed by `meson install` and by `pip install .` from the
source tree, or copied anywhere, or imported by path.  Every function of include/spdf.h is
available raw as ``spdf.lib.<name>`` (with its C prototype set), and wrapped in Python classes:

    import spdf
    with spdf.Context() as ctx:
        model = spdf.Model(ctx, vocab_size=257, num_layers=2, channels=64)
        opt = spdf.Optimizer(model, learning_rate=1e-3)
        mask = spdf.Mask(model, spdf.MASK_RANDOM, sparsity=0.75, seed=1)
        phase = spdf.Phase(model, opt, spdf.PHASE_SPARSE, mask)
        loss = model.forward(tokens, targets, T=64)       # tokens: array('i'), bytes, ...
        model.backward()
        grad_norm, lr = opt.step()
        phase.transition(spdf.PHASE_DENSE)                 # the SPDF transition

Handles (Context, Model, Optimizer, Mask, Phase, Dataset, Sampler, Bleu, TaskData) free their C
object on close(), at the end of a ``with`` block, or when garbage-collected.  A handle keeps the
handles it was made from alive, and closing a handle first closes the handles made from it, so
the library's rule "a handle must outlive every handle created from it" always holds.

A failing call raises SpdfError, which carries the status (``.status``, ``.name``) and the
library's detail (``.message``, from spdf_last_error()).

Buffers are taken from anything with the buffer protocol of the right item type (array.array,
memoryview, NumPy arrays, ctypes arrays) or from lists; bytes and bytearray are read as raw
memory.  NumPy is never required.

Importing the module loads nothing.  The library is loaded by the first call that needs it, from,
in this order: the path given to spdf.load(path) (call it first); the path in the SPDF_LIBRARY
environment variable; the installed library (libspdf.so.0 through the loader, then
ctypes.util.find_library("spdf")); and, only when this file is examples/python/spdf.py of a
libspdf source checkout, that checkout's build tree (build/lib, then the newest build*/lib).  When
none loads, the call raises LibraryNotFoundError (an OSError) saying what was tried.
"""

import array
import ctypes
import ctypes.util
import glob
import os
import weakref

from ctypes import POINTER, byref, c_char_p, c_double, c_float, c_int, c_int32, c_int64
from ctypes import c_size_t, c_uint8, c_uint32, c_uint64, c_void_p

# ---- status codes and constants of include/spdf.h ------------------------------------------------

OK = 0
EINVAL = 1
ENOMEM = 2
EIO = 3
EFORMAT = 4
ESTATE = 5
EUNSUPPORTED = 6
ENUMERIC = 7
EINTERNAL = 8

TENSOR_DECAY = 1
TENSOR_SPARSIFIABLE = 2

LR_CONSTANT = 0
LR_COSINE = 1

TOKEN_EOT = 256
BYTE_VOCAB_SIZE = 257

TOKENS_U16 = 0
TOKENS_U32 = 1

SAMPLE_RANDOM = 0
SAMPLE_SEQUENTIAL = 1

MASK_RANDOM = 0
MASK_MAGNITUDE = 1
MASK_ERK = 2
MASK_PER_LAYER = 0
MASK_GLOBAL = 1

PHASE_DENSE = 0
PHASE_SPARSE = 1
SPARSE_KERNEL_AUTO = -1
SPARSE_KERNEL_INDEX = 0
SPARSE_KERNEL_JIT = 1
SPARSE_KERNEL_DENSE = 2
SPARSE_PLAN_ESTIMATE = 0
SPARSE_PLAN_MEASURE = 1
SPARSE_PLANNED_ESTIMATE = 0
SPARSE_PLANNED_MEASURE = 1
SPARSE_PLANNED_FORCED = 2
SPARSE_PLANNED_CHECKPOINT = 3
SPARSE_MEMORY_RELEASE = 0
SPARSE_MEMORY_KEEP = 1

DECODE_GREEDY = 0
DECODE_BEAM = 1
DECODE_SAMPLE = 2

BLEU_MAX_ORDER = 9
BLEU_TOKENIZE_13A = 0
BLEU_TOKENIZE_NONE = 1
BLEU_TOKENIZE_CHAR = 2
BLEU_SMOOTH_NONE = 0
BLEU_SMOOTH_EXP = 1
BLEU_SMOOTH_FLOOR = 2
BLEU_SMOOTH_ADD_K = 3

TASK_E2E_CSV = 0
TASK_WEBNLG_XML = 1
TASK_DART_JSON = 2
TASK_JSONL = 3

# ---- configuration and result structs (members exactly as in include/spdf.h) --------------------


class _Struct(ctypes.Structure):
    """A struct that starts with struct_size.  Its init function (if any) fills in the defaults."""

    _init = None  # name of the spdf_X_config_init function

    def __init__(self, **fields):
        super().__init__()
        if self._init:
            _call(self._init, byref(self))
        else:
            self.struct_size = ctypes.sizeof(self)
        for name, value in fields.items():
            self.set(name, value)

    def set(self, name, value):
        if name == "struct_size" or name not in {f[0] for f in self._fields_}:
            raise TypeError(f"{type(self).__name__} has no member {name!r}")
        if isinstance(value, str):
            value = value.encode()
        setattr(self, name, value)

    def as_dict(self):
        out = {}
        for name, ctype in self._fields_:
            value = getattr(self, name)
            if isinstance(value, bytes):
                value = value.decode()
            elif isinstance(value, ctypes.Array):
                value = list(value)
            elif isinstance(value, ctypes.Structure):
                value = value.as_dict() if hasattr(value, "as_dict") else value
            out[name] = value
        return out

    def __repr__(self):
        members = ", ".join(f"{k}={v!r}" for k, v in self.as_dict().items() if k != "struct_size")
        return f"{type(self).__name__}({members})"


class ContextConfig(_Struct):
    _init = "spdf_context_config_init"
    _fields_ = [("struct_size", c_size_t), ("backend", c_char_p), ("num_threads", c_int32)]


class ModelConfig(_Struct):
    _init = "spdf_model_config_init"
    _fields_ = [("struct_size", c_size_t), ("vocab_size", c_int32), ("max_seq_len", c_int32),
                ("num_layers", c_int32), ("num_heads", c_int32), ("channels", c_int32),
                ("reserved", c_int32), ("seed", c_uint64)]


class TensorInfo(_Struct):
    _fields_ = [("struct_size", c_size_t), ("name", c_char_p), ("ndim", c_int32),
                ("flags", c_uint32), ("shape", c_int64 * 4), ("numel", c_int64),
                ("layer", c_int32), ("reserved", c_int32)]


class OptimizerConfig(_Struct):
    _init = "spdf_optimizer_config_init"
    _fields_ = [("struct_size", c_size_t), ("learning_rate", c_float), ("beta1", c_float),
                ("beta2", c_float), ("eps", c_float), ("weight_decay", c_float),
                ("grad_clip", c_float), ("schedule", c_int32), ("warmup_steps", c_int32),
                ("total_steps", c_int32), ("min_lr_ratio", c_float)]


class MaskConfig(_Struct):
    _init = "spdf_mask_config_init"
    _fields_ = [("struct_size", c_size_t), ("method", c_int32), ("scope", c_int32),
                ("sparsity", c_float), ("reserved", c_int32), ("seed", c_uint64),
                ("layer_sparsity", POINTER(c_float)), ("layer_sparsity_count", c_int32),
                ("reserved2", c_int32)]

    def set(self, name, value):
        if name == "layer_sparsity" and value is not None and \
                not isinstance(value, ctypes._Pointer):
            values = (c_float * len(value))(*value)
            self._layer_sparsity = values  # kept alive with the struct
            self.layer_sparsity_count = len(value)
            value = ctypes.cast(values, POINTER(c_float))
        super().set(name, value)


class MaskLayerInfo(_Struct):
    _fields_ = [("struct_size", c_size_t), ("tensor_index", c_int32), ("reserved", c_int32),
                ("rows", c_int64), ("cols", c_int64), ("nnz", c_int64), ("density", c_float),
                ("reserved2", c_float)]


class SparseKernelInfo(_Struct):
    _fields_ = [("struct_size", c_size_t), ("kind", c_int32), ("reserved", c_int32),
                ("code_bytes", c_int64), ("forward", c_int32), ("backward_data", c_int32),
                ("backward_weight", c_int32), ("planned_by", c_int32), ("forward_time", c_float),
                ("backward_data_time", c_float), ("backward_weight_time", c_float),
                ("vector_floats", c_int32), ("isa", c_char_p)]


class SparsePlanConfig(_Struct):
    _init = "spdf_sparse_plan_config_init"
    _fields_ = [("struct_size", c_size_t), ("mode", c_int32), ("forward", c_int32),
                ("backward_data", c_int32), ("backward_weight", c_int32),
                ("tokens", c_int32), ("reserved", c_int32)]


class TransitionConfig(_Struct):
    _init = "spdf_transition_config_init"
    _fields_ = [("struct_size", c_size_t), ("reset_moments", c_int32),
                ("restart_schedule", c_int32), ("optimizer", POINTER(OptimizerConfig))]

    def set(self, name, value):
        if name == "optimizer" and isinstance(value, OptimizerConfig):
            self._optimizer = value  # kept alive with the struct
            value = ctypes.pointer(value)
        super().set(name, value)


class CheckpointInfo(_Struct):
    _fields_ = [("struct_size", c_size_t), ("format_version", c_uint32), ("phase", c_int32),
                ("model", ModelConfig), ("step", c_int64), ("has_optimizer", c_int32),
                ("has_sampler", c_int32), ("sampler_position", c_int64),
                ("stored_params", c_int64), ("file_size", c_int64)]

    def __init__(self, **fields):
        super().__init__(**fields)
        self.model.struct_size = ctypes.sizeof(ModelConfig)


class GenerateConfig(_Struct):
    _init = "spdf_generate_config_init"
    _fields_ = [("struct_size", c_size_t), ("strategy", c_int32), ("max_new_tokens", c_int32),
                ("beam_width", c_int32), ("length_penalty", c_float),
                ("early_stopping", c_int32), ("temperature", c_float), ("top_k", c_int32),
                ("stop_token", c_int32), ("seed", c_uint64),
                ("stop_sequence", POINTER(c_int32)), ("stop_sequence_length", c_int32),
                ("use_kv_cache", c_int32)]

    def set(self, name, value):
        if name == "stop_sequence" and value is not None and not isinstance(value, ctypes._Pointer):
            if isinstance(value, str):
                value = value.encode()
            values = (c_int32 * len(value))(*value)
            self._stop_sequence = values  # kept alive with the struct
            self.stop_sequence_length = len(value)
            value = ctypes.cast(values, POINTER(c_int32))
        super().set(name, value)


class FlopReport(_Struct):
    _fields_ = [("struct_size", c_size_t), ("forward_per_token_dense", c_double),
                ("forward_per_token_sparse", c_double), ("train_per_token_dense", c_double),
                ("train_per_token_sparse", c_double), ("train_per_step_dense", c_double),
                ("train_per_step_sparse", c_double), ("reduction", c_double),
                ("block_weights", c_double)]


class BleuOptions(_Struct):
    _init = "spdf_bleu_options_init"
    _fields_ = [("struct_size", c_size_t), ("tokenize", c_int32), ("lowercase", c_int32),
                ("smooth", c_int32), ("effective_order", c_int32), ("smooth_value", c_double),
                ("max_order", c_int32), ("nist_order", c_int32)]


class BleuResult(_Struct):
    _fields_ = [("struct_size", c_size_t), ("bleu", c_double), ("nist", c_double),
                ("brevity_penalty", c_double), ("nist_brevity_penalty", c_double),
                ("precisions", c_double * BLEU_MAX_ORDER), ("matches", c_int64 * BLEU_MAX_ORDER),
                ("totals", c_int64 * BLEU_MAX_ORDER), ("hyp_length", c_int64),
                ("ref_length", c_int64), ("nist_ref_length", c_double), ("segments", c_int64),
                ("max_order", c_int32), ("nist_order", c_int32)]


class DropoutConfig(_Struct):
    _init = "spdf_dropout_config_init"
    _fields_ = [("struct_size", c_size_t), ("embedding", c_float), ("attention", c_float),
                ("residual", c_float), ("reserved", c_int32), ("seed", c_uint64),
                ("forward_count", c_uint64)]


class ImportConfig(_Struct):
    _init = "spdf_import_config_init"
    _fields_ = [("struct_size", c_size_t), ("num_heads", c_int32), ("reserved", c_int32),
                ("seed", c_uint64)]


# ---- C prototypes of every SPDF_API function -----------------------------------------------------

_status = c_int
_handle = c_void_p
_P = POINTER

PROTOTYPES = {
    # version, status codes, errors
    "spdf_version_number": (ctypes.c_uint, []),
    "spdf_version_string": (c_char_p, []),
    "spdf_status_name": (c_char_p, [c_int]),
    "spdf_last_error": (c_char_p, []),
    # context and backends
    "spdf_context_config_init": (_status, [_P(ContextConfig)]),
    "spdf_context_create": (_status, [_P(ContextConfig), _P(_handle)]),
    "spdf_context_free": (None, [_handle]),
    "spdf_context_backend": (_status, [_handle, _P(c_char_p)]),
    "spdf_context_num_threads": (_status, [_handle, _P(c_int32)]),
    "spdf_backend_count": (_status, [_P(c_int32)]),
    "spdf_backend_name": (_status, [c_int32, _P(c_char_p)]),
    "spdf_backend_available": (_status, [c_char_p, _P(c_int32)]),
    # model
    "spdf_model_config_init": (_status, [_P(ModelConfig)]),
    "spdf_model_create": (_status, [_handle, _P(ModelConfig), _P(_handle)]),
    "spdf_model_free": (None, [_handle]),
    "spdf_model_get_config": (_status, [_handle, _P(ModelConfig)]),
    "spdf_model_num_params": (_status, [_handle, _P(c_int64)]),
    "spdf_model_num_tensors": (_status, [_handle, _P(c_int32)]),
    "spdf_model_tensor_info": (_status, [_handle, c_int32, _P(TensorInfo)]),
    "spdf_model_tensor_find": (_status, [_handle, c_char_p, _P(c_int32)]),
    "spdf_model_tensor_read": (_status, [_handle, c_int32, _P(c_float), c_int64]),
    "spdf_model_tensor_write": (_status, [_handle, c_int32, _P(c_float), c_int64]),
    "spdf_model_tensor_grad_read": (_status, [_handle, c_int32, _P(c_float), c_int64]),
    "spdf_model_tensor_data": (_status, [_handle, c_int32, _P(_P(c_float))]),
    "spdf_model_forward": (_status, [_handle, _P(c_int32), _P(c_int32), _P(c_float), c_int32,
                                     c_int32, _P(c_float)]),
    "spdf_model_logits": (_status, [_handle, _P(_P(c_float)), _P(c_int32), _P(c_int32),
                                    _P(c_int32)]),
    "spdf_model_backward": (_status, [_handle]),
    "spdf_dropout_config_init": (_status, [_P(DropoutConfig)]),
    "spdf_model_set_dropout": (_status, [_handle, _P(DropoutConfig)]),
    "spdf_model_get_dropout": (_status, [_handle, _P(DropoutConfig)]),
    "spdf_model_forward_eval": (_status, [_handle, _P(c_int32), _P(c_int32), _P(c_float), c_int32,
                                          c_int32, _P(c_float)]),
    "spdf_model_sparse_kernel_info": (_status, [_handle, c_int32, _P(SparseKernelInfo)]),
    "spdf_model_set_sparse_memory": (_status, [_handle, c_int]),
    "spdf_sparse_plan_config_init": (_status, [_P(SparsePlanConfig)]),
    "spdf_model_set_sparse_plan": (_status, [_handle, _P(SparsePlanConfig)]),
    "spdf_model_get_sparse_plan": (_status, [_handle, _P(SparsePlanConfig)]),
    "spdf_model_get_sparse_memory": (_status, [_handle, _P(c_int)]),
    "spdf_model_zero_grad": (_status, [_handle]),
    "spdf_model_gradients": (_status, [_handle, _P(_P(c_float)), _P(c_int64)]),
    "spdf_model_scale_gradients": (_status, [_handle, c_float]),
    "spdf_model_weights_checksum": (_status, [_handle, _P(c_uint32)]),
    # optimizer
    "spdf_optimizer_config_init": (_status, [_P(OptimizerConfig)]),
    "spdf_optimizer_create": (_status, [_handle, _P(OptimizerConfig), _P(_handle)]),
    "spdf_optimizer_free": (None, [_handle]),
    "spdf_optimizer_step": (_status, [_handle, _P(c_float), _P(c_float)]),
    "spdf_optimizer_get_step": (_status, [_handle, _P(c_int64)]),
    "spdf_optimizer_lr_at": (_status, [_handle, c_int64, _P(c_float)]),
    "spdf_optimizer_get_config": (_status, [_handle, _P(OptimizerConfig)]),
    "spdf_optimizer_restart": (_status, [_handle, _P(OptimizerConfig), c_int32]),
    # token data
    "spdf_byte_encode": (_status, [c_char_p, c_size_t, _P(c_int32), c_size_t, _P(c_size_t)]),
    "spdf_byte_decode": (_status, [_P(c_int32), c_size_t, c_char_p, c_size_t, _P(c_size_t)]),
    "spdf_tokenizer_train": (_status, [c_char_p, c_size_t, c_int32, _P(_handle)]),
    "spdf_tokenizer_save": (_status, [_handle, c_char_p]),
    "spdf_tokenizer_load": (_status, [c_char_p, _P(_handle)]),
    "spdf_tokenizer_load_gpt2": (_status, [c_char_p, c_char_p, _P(_handle)]),
    "spdf_tokenizer_checksum": (_status, [_handle, _P(c_uint32)]),
    "spdf_tokenizer_free": (None, [_handle]),
    "spdf_tokenizer_vocab_size": (_status, [_handle, _P(c_int32)]),
    "spdf_tokenizer_end_of_text": (_status, [_handle, _P(c_int32)]),
    "spdf_tokenizer_encode": (_status, [_handle, c_char_p, c_size_t, _P(c_int32), c_size_t,
                                        _P(c_size_t)]),
    "spdf_tokenizer_decode": (_status, [_handle, _P(c_int32), c_size_t, c_char_p, c_size_t,
                                        _P(c_size_t)]),
    "spdf_tokens_save": (_status, [c_char_p, _P(c_int32), c_int64, c_int]),
    "spdf_dataset_load": (_status, [c_char_p, _P(_handle)]),
    "spdf_dataset_from_tokens": (_status, [_P(c_int32), c_int64, _P(_handle)]),
    "spdf_dataset_free": (None, [_handle]),
    "spdf_dataset_size": (_status, [_handle, _P(c_int64)]),
    "spdf_dataset_tokens": (_status, [_handle, _P(_P(c_int32))]),
    "spdf_dataset_vocab_bound": (_status, [_handle, _P(c_int32)]),
    "spdf_sampler_create": (_status, [_handle, c_int32, c_int32, c_uint64, c_int, _P(_handle)]),
    "spdf_sampler_free": (None, [_handle]),
    "spdf_sampler_next": (_status, [_handle, _P(c_int32), _P(c_int32)]),
    "spdf_sampler_get_position": (_status, [_handle, _P(c_int64)]),
    "spdf_sampler_set_position": (_status, [_handle, c_int64]),
    "spdf_sampler_set_shard": (_status, [_handle, c_int32, c_int32]),
    "spdf_sampler_get_shard": (_status, [_handle, _P(c_int32), _P(c_int32), _P(c_int32)]),
    # sparsity
    "spdf_mask_config_init": (_status, [_P(MaskConfig)]),
    "spdf_mask_create": (_status, [_handle, c_int, c_float, c_uint64, _P(_handle)]),
    "spdf_mask_create_ex": (_status, [_handle, _P(MaskConfig), _P(_handle)]),
    "spdf_mask_free": (None, [_handle]),
    "spdf_mask_num_layers": (_status, [_handle, _P(c_int32)]),
    "spdf_mask_get_layer": (_status, [_handle, c_int32, _P(MaskLayerInfo)]),
    "spdf_mask_totals": (_status, [_handle, _P(c_int64), _P(c_int64)]),
    "spdf_mask_layer_read": (_status, [_handle, c_int32, _P(c_uint8), c_int64]),
    "spdf_transition_config_init": (_status, [_P(TransitionConfig)]),
    "spdf_phase_create": (_status, [_handle, _handle, c_int, _handle, _P(_handle)]),
    "spdf_phase_free": (None, [_handle]),
    "spdf_phase_get_kind": (_status, [_handle, _P(c_int)]),
    "spdf_phase_transition": (_status, [_handle, c_int, _handle, _P(TransitionConfig)]),
    # checkpoints
    "spdf_checkpoint_save": (_status, [c_char_p, _handle, _handle, _handle]),
    "spdf_checkpoint_save_config_init": (_status, [c_void_p]),
    "spdf_checkpoint_save_ex": (_status, [c_char_p, _handle, _handle, _handle, c_void_p]),
    "spdf_checkpoint_load_tokenizer": (_status, [c_char_p, _P(_handle)]),
    "spdf_checkpoint_load": (_status, [c_char_p, _handle, _P(_handle), _P(_handle), _P(_handle),
                                       _handle]),
    "spdf_checkpoint_info_read": (_status, [c_char_p, _P(CheckpointInfo)]),
    # generation and evaluation
    "spdf_generate_config_init": (_status, [_P(GenerateConfig)]),
    "spdf_generate": (_status, [_handle, _P(c_int32), c_int32, _P(GenerateConfig), _P(c_int32),
                                c_int32, _P(c_int32)]),
    "spdf_model_evaluate": (_status, [_handle, _handle, c_int32, c_int32, c_int64, _P(c_double),
                                      _P(c_double)]),
    "spdf_flops": (_status, [_P(ModelConfig), c_int32, c_int32, c_float, _P(FlopReport)]),
    "spdf_model_flops": (_status, [_handle, c_int32, c_int32, _P(FlopReport)]),
    # BLEU and NIST
    "spdf_bleu_options_init": (_status, [_P(BleuOptions)]),
    "spdf_bleu_create": (_status, [_P(_handle)]),
    "spdf_bleu_free": (None, [_handle]),
    "spdf_bleu_add": (_status, [_handle, c_char_p, _P(c_char_p), c_int32]),
    "spdf_bleu_count": (_status, [_handle, _P(c_int64)]),
    "spdf_bleu_score": (_status, [_handle, _P(BleuOptions), _P(BleuResult)]),
    "spdf_sentence_bleu": (_status, [c_char_p, _P(c_char_p), c_int32, _P(BleuOptions),
                                     _P(c_double)]),
    "spdf_bleu_from_stats": (_status, [_P(BleuOptions), _P(c_int64), _P(c_int64), c_int64,
                                       c_int64, _P(c_double)]),
    # task data
    "spdf_task_data_load": (_status, [c_char_p, c_int, _P(_handle)]),
    "spdf_task_data_free": (None, [_handle]),
    "spdf_task_data_count": (_status, [_handle, _P(c_int64)]),
    "spdf_task_data_prompt": (_status, [_handle, c_int64, _P(c_char_p)]),
    "spdf_task_data_reference_count": (_status, [_handle, c_int64, _P(c_int32)]),
    "spdf_task_data_reference": (_status, [_handle, c_int64, c_int32, _P(c_char_p)]),
    "spdf_task_data_references": (_status, [_handle, c_int64, _P(_P(c_char_p)), _P(c_int32)]),
    "spdf_task_data_pair_count": (_status, [_handle, _P(c_int64)]),
    "spdf_task_data_pair": (_status, [_handle, c_int64, _P(c_char_p), _P(c_char_p)]),
    # interop
    "spdf_import_config_init": (_status, [_P(ImportConfig)]),
    "spdf_model_export_safetensors": (_status, [_handle, c_char_p]),
    "spdf_model_import_safetensors": (_status, [_handle, c_char_p, _P(ImportConfig),
                                                _P(_handle)]),
    "spdf_model_import_llmc": (_status, [_handle, c_char_p, _P(_handle)]),
}

# ---- loading the library ------------------------------------------------------------------------


class LibraryNotFoundError(OSError):
    """libspdf could not be loaded; the message says what was tried and how to choose one."""


SONAME = "libspdf.so.0"  # the ABI this binding is written for


def _source_tree_libraries():
    """The build trees' libraries (build/lib first, then the newest build*/lib) when this module
    is examples/python/spdf.py of a libspdf checkout; none for a copy or an installed module."""
    here = os.path.dirname(os.path.realpath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    if here != os.path.join(root, "examples", "python"):
        return []
    try:
        with open(os.path.join(root, "meson.build"), encoding="utf-8") as f:
            if not f.read(200).startswith("project('libspdf'"):
                return []
    except OSError:
        return []
    builds = [p for p in glob.glob(os.path.join(root, "build*", "lib", "libspdf.so"))
              if os.path.exists(p)]
    builds.sort(key=lambda p: (os.path.dirname(os.path.dirname(p)) != os.path.join(root, "build"),
                               -os.path.getmtime(p)))
    return builds


def _candidates():
    """What load() tries, lazily: find_library runs the compiler, so only when needed."""
    if os.environ.get("SPDF_LIBRARY"):  # an explicit choice is never replaced by another library
        yield os.environ["SPDF_LIBRARY"]
        return
    yield SONAME  # installed: the loader's path, its cache and LD_LIBRARY_PATH
    installed = ctypes.util.find_library("spdf")
    if installed and installed != SONAME:
        yield installed
    yield from _source_tree_libraries()


def library_candidates():
    """The libraries tried, in order, when none was loaded with spdf.load(path): the one named
    by SPDF_LIBRARY (alone, when it is set), the installed one (libspdf.so.0, then what
    ctypes.util.find_library("spdf") finds), then, only for the module of a source checkout, the
    checkout's build trees."""
    return list(_candidates())


class _Library:
    """The loaded shared library; attributes are its functions with their prototypes set."""

    def __init__(self):
        self._cdll = None
        self.path = None

    def _open(self, path):
        cdll = ctypes.CDLL(path)  # OSError: nothing changes
        for name in [k for k in self.__dict__ if k.startswith("spdf_")]:
            del self.__dict__[name]  # functions bound from a previous library
        self._cdll, self.path = cdll, path
        return self

    def load(self, path=None):
        if path is not None:
            try:
                return self._open(os.fspath(path))
            except OSError as e:
                raise LibraryNotFoundError(f"cannot load libspdf: {e}") from None
        explicit = os.environ.get("SPDF_LIBRARY")
        if explicit:
            try:
                return self._open(explicit)
            except OSError as e:
                raise LibraryNotFoundError(f"SPDF_LIBRARY={explicit}: {e}") from None
        errors = []
        for candidate in _candidates():
            if os.sep in candidate and not os.path.exists(candidate):
                errors.append(f"{candidate}: no such file")
                continue
            try:
                return self._open(candidate)
            except OSError as e:
                errors.append(str(e))
        raise LibraryNotFoundError(
            'libspdf not found: call spdf.load("/path/to/libspdf.so.0") first, set SPDF_LIBRARY '
            "to that path, or install libspdf (meson install, then ldconfig if its directory is "
            "new to the loader). Tried:\n  " + "\n  ".join(errors))

    def __getattr__(self, name):
        prototype = PROTOTYPES.get(name)
        if prototype is None:
            raise AttributeError(f"libspdf has no function {name}")
        if self._cdll is None:
            self.load()
        try:
            function = getattr(self._cdll, name)
        except AttributeError:
            raise AttributeError(f"{name} is not exported by {self.path}: the library is older "
                                 "than this binding") from None
        function.restype, function.argtypes = prototype
        self.__dict__[name] = function
        return function


lib = _Library()


def load(path=None):
    """Loads libspdf from path (a str or os.PathLike), or from the first of library_candidates()
    that loads.  Importing the module loads nothing; the first call that needs the library loads
    it this way, so spdf.load(path) may come first.  Raises LibraryNotFoundError (an OSError)."""
    return lib.load(path)


# ---- errors -------------------------------------------------------------------------------------


class SpdfError(Exception):
    """A libspdf call failed.  status: the spdf_status value; name: "SPDF_EINVAL", ...;
    message: the library's detail; function: the C function that failed."""

    def __init__(self, status, message, function=""):
        self.status = status
        self.name = status_name(status)
        self.message = message
        self.function = function
        super().__init__(f"{function + ': ' if function else ''}{self.name}: {message}")


def status_name(status):
    return lib.spdf_status_name(status).decode()


def last_error():
    return lib.spdf_last_error().decode("utf-8", "replace")


def _call(name, *args):
    status = getattr(lib, name)(*args)
    if status != OK:
        raise SpdfError(status, last_error(), name)


def _text(value):
    return value.encode() if isinstance(value, str) else value


def _path(value):
    return os.fsencode(value)


# ---- buffers ------------------------------------------------------------------------------------

_FORMATS = {c_int32: ("i", "l", "=i", "<i", "@i"), c_float: ("f", "=f", "<f", "@f"),
            c_uint8: ("B", "=B", "<B", "@B"), c_int64: ("q", "l", "=q", "<q", "@q")}
_TYPECODES = {c_int32: "i", c_float: "f", c_uint8: "B", c_int64: "q"}


def _as_view(obj, ctype):
    """A contiguous memoryview of obj in ctype's items; lists become an array.array."""
    if isinstance(obj, (list, tuple, range)):
        obj = array.array(_TYPECODES[ctype], obj)
    view = memoryview(obj)
    if not view.c_contiguous:
        raise ValueError("buffer must be contiguous")
    size = ctypes.sizeof(ctype)
    if view.format in ("B", "b", "c") and ctype is not c_uint8:
        if view.nbytes % size:
            raise ValueError(f"raw buffer of {view.nbytes} bytes is not a whole number of "
                             f"{size}-byte items")
    elif view.format not in _FORMATS[ctype] or view.itemsize != size:
        raise TypeError(f"buffer of format {view.format!r} (itemsize {view.itemsize}) where "
                        f"{ctype.__name__} items are needed")
    return view.cast("B")


def _in(obj, ctype):
    """(pointer, count) for a buffer read by the library; None gives (None, 0)."""
    if obj is None:
        return None, 0
    view = _as_view(obj, ctype)
    count = view.nbytes // ctypes.sizeof(ctype)
    if view.readonly:
        holder = (ctype * count).from_buffer_copy(view)
    else:
        holder = (ctype * count).from_buffer(view)
    return holder, count


def _out(obj, ctype, count):
    """(pointer, result) for a buffer the library writes: obj, or a new array.array of count."""
    if obj is None:
        obj = array.array(_TYPECODES[ctype], bytes(count * ctypes.sizeof(ctype)))
    view = _as_view(obj, ctype)
    if view.readonly:
        raise TypeError("output buffer is read-only")
    if view.nbytes // ctypes.sizeof(ctype) != count:
        raise ValueError(f"output buffer holds {view.nbytes // ctypes.sizeof(ctype)} items, "
                         f"{count} are needed")
    return (ctype * count).from_buffer(view), obj


def _borrowed(pointer, ctype, count, owner, shape=None):
    """A memoryview over library memory (no copy), valid as long as the library says; it keeps
    the owning handle object alive (closing the handle still invalidates it)."""
    if count == 0:
        return memoryview(array.array(_TYPECODES[ctype]))
    raw = (ctype * count).from_address(ctypes.addressof(pointer.contents))
    raw._owner = owner
    view = memoryview(raw).cast("B").cast(_TYPECODES[ctype])
    return view.cast("B").cast(_TYPECODES[ctype], shape) if shape else view


# ---- handles ------------------------------------------------------------------------------------


class _Handle:
    """An owned C handle.  close() frees it after closing every handle made from it."""

    _free = None

    def __init__(self, pointer, *parents):
        self._pointer = pointer
        self._parents = tuple(p for p in parents if p is not None)
        self._children = weakref.WeakSet()
        for parent in self._parents:
            parent._children.add(self)

    @property
    def handle(self):
        """The C pointer (an int); ValueError once closed."""
        if self._pointer is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._pointer

    @property
    def closed(self):
        return self._pointer is None

    def close(self):
        if self._pointer is None:
            return
        for child in list(self._children):
            child.close()
        pointer, self._pointer = self._pointer, None
        getattr(lib, self._free)(pointer)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


def _new_handle(cls, pointer, *parents):
    obj = cls.__new__(cls)
    _Handle.__init__(obj, pointer.value, *parents)
    return obj


def _config(cls, config, fields):
    """config as given, or a cls with defaults and fields; None when neither is given."""
    if config is not None and fields:
        raise TypeError("give either a config struct or keyword members, not both")
    if config is None and fields:
        config = cls(**fields)
    return byref(config) if config is not None else None


class Context(_Handle):
    """Backend and worker threads: Context(backend=None, num_threads=0) or Context(config=...)."""

    _free = "spdf_context_free"

    def __init__(self, config=None, **fields):
        out = c_void_p()
        _call("spdf_context_create", _config(ContextConfig, config, fields), byref(out))
        super().__init__(out.value)

    @property
    def backend(self):
        name = c_char_p()
        _call("spdf_context_backend", self.handle, byref(name))
        return name.value.decode()

    @property
    def num_threads(self):
        value = c_int32()
        _call("spdf_context_num_threads", self.handle, byref(value))
        return value.value


class Model(_Handle):
    """A GPT-2 style decoder: Model(ctx, vocab_size=..., channels=...) or Model(ctx, config=...)."""

    _free = "spdf_model_free"

    def __init__(self, ctx, config=None, **fields):
        if config is None:
            config = ModelConfig(**fields)
        elif fields:
            raise TypeError("give either a config struct or keyword members, not both")
        out = c_void_p()
        _call("spdf_model_create", ctx.handle, byref(config), byref(out))
        super().__init__(out.value, ctx)

    @classmethod
    def import_safetensors(cls, ctx, path, num_heads=0, seed=1337):
        """A dense model from a Hugging Face GPT-2 safetensors file."""
        config = ImportConfig(num_heads=num_heads, seed=seed)
        out = c_void_p()
        _call("spdf_model_import_safetensors", ctx.handle, _path(path), byref(config), byref(out))
        return _new_handle(cls, out, ctx)

    @classmethod
    def import_llmc(cls, ctx, path):
        """A dense model from an llm.c GPT-2 checkpoint (train_gpt2.c / train_gpt2.py)."""
        out = c_void_p()
        _call("spdf_model_import_llmc", ctx.handle, _path(path), byref(out))
        return _new_handle(cls, out, ctx)

    def export_safetensors(self, path):
        _call("spdf_model_export_safetensors", self.handle, _path(path))

    @property
    def config(self):
        config = ModelConfig()
        _call("spdf_model_get_config", self.handle, byref(config))
        return config

    @property
    def num_params(self):
        value = c_int64()
        _call("spdf_model_num_params", self.handle, byref(value))
        return value.value

    @property
    def num_tensors(self):
        value = c_int32()
        _call("spdf_model_num_tensors", self.handle, byref(value))
        return value.value

    def tensor_info(self, index):
        info = TensorInfo()
        _call("spdf_model_tensor_info", self.handle, index, byref(info))
        return info

    def tensors(self):
        """[(name, shape)] of every tensor, in table order."""
        out = []
        for i in range(self.num_tensors):
            info = self.tensor_info(i)
            out.append((info.name.decode(), tuple(info.shape[:info.ndim])))
        return out

    def tensor_find(self, name):
        index = c_int32()
        _call("spdf_model_tensor_find", self.handle, _text(name), byref(index))
        return index.value

    def _index(self, tensor):
        return self.tensor_find(tensor) if isinstance(tensor, str) else tensor

    def tensor_read(self, tensor, out=None):
        """The tensor's values (dense layout) as array('f'), or into out."""
        index = self._index(tensor)
        numel = self.tensor_info(index).numel
        pointer, result = _out(out, c_float, numel)
        _call("spdf_model_tensor_read", self.handle, index, pointer, numel)
        return result

    def tensor_write(self, tensor, values):
        index = self._index(tensor)
        pointer, count = _in(values, c_float)
        _call("spdf_model_tensor_write", self.handle, index, pointer, count)

    def tensor_grad_read(self, tensor, out=None):
        index = self._index(tensor)
        numel = self.tensor_info(index).numel
        pointer, result = _out(out, c_float, numel)
        _call("spdf_model_tensor_grad_read", self.handle, index, pointer, numel)
        return result

    def tensor_data(self, tensor):
        """Zero-copy memoryview of the tensor's values (borrowed: valid until the model is freed
        or its phase changes; SpdfError ESTATE while a mask stores it compactly)."""
        index = self._index(tensor)
        info = self.tensor_info(index)
        data = POINTER(c_float)()
        _call("spdf_model_tensor_data", self.handle, index, byref(data))
        return _borrowed(data, c_float, info.numel, self, tuple(info.shape[:info.ndim]))

    def forward(self, tokens, targets=None, loss_weights=None, B=None, T=None):
        """Forward pass over a (B,T) batch; returns the loss (None without targets).  B and T
        default to the shape of a 2-D buffer, else B = 1 (or len / T) and T = len.  With targets
        it is a training pass and applies the model's dropout (see `dropout`)."""
        return self._forward("spdf_model_forward", tokens, targets, loss_weights, B, T)

    def forward_eval(self, tokens, targets=None, loss_weights=None, B=None, T=None):
        """forward() without dropout, whatever the model's configuration (a validation loss)."""
        return self._forward("spdf_model_forward_eval", tokens, targets, loss_weights, B, T)

    @property
    def dropout(self):
        """The DropoutConfig: rates of the three sites, the masks' seed and the count of
        training passes that dropped."""
        config = DropoutConfig()
        _call("spdf_model_get_dropout", self.handle, byref(config))
        return config

    @dropout.setter
    def dropout(self, config):
        _call("spdf_model_set_dropout", self.handle, byref(config))

    def _forward(self, function, tokens, targets, loss_weights, B, T):
        B, T = _batch_shape(tokens, B, T)
        tokens_p, n = _in(tokens, c_int32)
        targets_p, nt = _in(targets, c_int32)
        weights_p, nw = _in(loss_weights, c_float)
        for name, count in (("tokens", n), ("targets", nt), ("loss_weights", nw)):
            if count not in (0, B * T) or (name == "tokens" and count != B * T):
                raise ValueError(f"{name} holds {count} items, the batch is {B} x {T}")
        loss = c_float()
        _call(function, self.handle, tokens_p, targets_p, weights_p, B, T,
              byref(loss) if targets is not None else None)
        return loss.value if targets is not None else None

    def logits(self, copy=True):
        """Logits (B,T,V) of the last forward pass as a memoryview of floats with that shape: a
        copy, or with copy=False the library's buffer (valid until the next forward or free)."""
        pointer = POINTER(c_float)()
        B, T, V = c_int32(), c_int32(), c_int32()
        _call("spdf_model_logits", self.handle, byref(pointer), byref(B), byref(T), byref(V))
        shape = (B.value, T.value, V.value)
        view = _borrowed(pointer, c_float, B.value * T.value * V.value, self, shape)
        if not copy:
            return view
        return memoryview(bytearray(view.cast("B"))).cast("f", shape)

    def backward(self):
        _call("spdf_model_backward", self.handle)

    def sparse_kernel_info(self, layer):
        """How masked layer `layer` runs in a sparse phase: the kernel of each product
        (SPARSE_KERNEL_INDEX, _JIT or _DENSE), how the plan was made, its relative times."""
        info = SparseKernelInfo()
        _call("spdf_model_sparse_kernel_info", self.handle, layer, byref(info))
        return info

    @property
    def sparse_plan(self):
        """The SparsePlanConfig masked layers are planned with (ESTIMATE by default)."""
        config = SparsePlanConfig()
        _call("spdf_model_get_sparse_plan", self.handle, byref(config))
        return config

    @sparse_plan.setter
    def sparse_plan(self, config):
        _call("spdf_model_set_sparse_plan", self.handle, byref(config))

    @property
    def sparse_memory(self):
        """SPARSE_MEMORY_KEEP (the default) or SPARSE_MEMORY_RELEASE: what a sparse phase does
        with the pages its compact storage does not need."""
        policy = c_int()
        _call("spdf_model_get_sparse_memory", self.handle, byref(policy))
        return policy.value

    @sparse_memory.setter
    def sparse_memory(self, policy):
        _call("spdf_model_set_sparse_memory", self.handle, policy)

    def zero_grad(self):
        _call("spdf_model_zero_grad", self.handle)

    def generate(self, prompt, config=None, max_capacity=None, **fields):
        """Continues prompt (ids, or bytes/str for the byte tokenizer); returns the new ids."""
        if isinstance(prompt, str):
            prompt = prompt.encode()
        if isinstance(prompt, (bytes, bytearray)):
            prompt = array.array("i", list(prompt))
        if config is None:
            config = GenerateConfig(**fields)
        elif fields:
            raise TypeError("give either a config struct or keyword members, not both")
        prompt_p, n = _in(prompt, c_int32)
        capacity = max_capacity or max(config.max_new_tokens, 1)
        out = (c_int32 * capacity)()
        length = c_int32()
        _call("spdf_generate", self.handle, prompt_p, n, byref(config), out, capacity,
              byref(length))
        return list(out[:length.value])

    def evaluate(self, dataset, B, T, max_batches=0):
        """(mean loss in nats per token, perplexity) over the dataset's first windows."""
        loss, perplexity = c_double(), c_double()
        _call("spdf_model_evaluate", self.handle, dataset.handle, B, T, max_batches, byref(loss),
              byref(perplexity))
        return loss.value, perplexity.value

    def flops(self, context, batch):
        report = FlopReport()
        _call("spdf_model_flops", self.handle, context, batch, byref(report))
        return report


def _batch_shape(tokens, B, T):
    if B is not None and T is not None:
        return B, T
    if isinstance(tokens, (list, tuple, range)):
        total = len(tokens)
    else:
        view = memoryview(tokens)
        if view.ndim == 2 and B is None and T is None:
            return view.shape[0], view.shape[1]
        total = view.nbytes // 4
    if T is None:
        T = total if B is None else total // B
    if B is None:
        B = total // T if T else 0
    return B, T


class Optimizer(_Handle):
    """AdamW: Optimizer(model, learning_rate=..., ...) or Optimizer(model, config=...)."""

    _free = "spdf_optimizer_free"

    def __init__(self, model, config=None, **fields):
        out = c_void_p()
        _call("spdf_optimizer_create", model.handle, _config(OptimizerConfig, config, fields),
              byref(out))
        super().__init__(out.value, model)

    def step(self):
        """One update; returns (gradient norm before clipping, learning rate used)."""
        norm, lr = c_float(), c_float()
        _call("spdf_optimizer_step", self.handle, byref(norm), byref(lr))
        return norm.value, lr.value

    @property
    def step_count(self):
        value = c_int64()
        _call("spdf_optimizer_get_step", self.handle, byref(value))
        return value.value

    def lr_at(self, step):
        value = c_float()
        _call("spdf_optimizer_lr_at", self.handle, step, byref(value))
        return value.value

    @property
    def config(self):
        config = OptimizerConfig()
        _call("spdf_optimizer_get_config", self.handle, byref(config))
        return config

    def restart(self, config=None, reset_moments=False, **fields):
        _call("spdf_optimizer_restart", self.handle, _config(OptimizerConfig, config, fields),
              int(reset_moments))


class Mask(_Handle):
    """Mask(model, method, sparsity, seed), or Mask(model, config=MaskConfig(...)) /
    Mask(model, method=..., layer_sparsity=[...], ...) for spdf_mask_create_ex."""

    _free = "spdf_mask_free"

    def __init__(self, model, method=MASK_RANDOM, sparsity=0.75, seed=1, config=None, **fields):
        out = c_void_p()
        if config is not None or fields:
            if config is None:
                config = MaskConfig(method=method, sparsity=sparsity, seed=seed, **fields)
            _call("spdf_mask_create_ex", model.handle, byref(config), byref(out))
        else:
            _call("spdf_mask_create", model.handle, method, sparsity, seed, byref(out))
        super().__init__(out.value)  # a mask is independent of the model once made

    @property
    def num_layers(self):
        value = c_int32()
        _call("spdf_mask_num_layers", self.handle, byref(value))
        return value.value

    def layer(self, index):
        info = MaskLayerInfo()
        _call("spdf_mask_get_layer", self.handle, index, byref(info))
        return info

    def totals(self):
        """(kept weights, total weights) over all layers."""
        nnz, total = c_int64(), c_int64()
        _call("spdf_mask_totals", self.handle, byref(nnz), byref(total))
        return nnz.value, total.value

    def layer_read(self, index, out=None):
        """The layer's pattern as rows*cols bytes (1 kept, 0 masked), row-major."""
        info = self.layer(index)
        pointer, result = _out(out if out is not None else bytearray(info.rows * info.cols),
                               c_uint8, info.rows * info.cols)
        _call("spdf_mask_layer_read", self.handle, index, pointer, info.rows * info.cols)
        return result


class Phase(_Handle):
    """The training phase of a model: Phase(model, optimizer_or_None, kind, mask=None)."""

    _free = "spdf_phase_free"

    def __init__(self, model, optimizer, kind, mask=None):
        out = c_void_p()
        _call("spdf_phase_create", model.handle, optimizer.handle if optimizer else None, kind,
              mask.handle if mask else None, byref(out))
        super().__init__(out.value, model, optimizer)

    @property
    def kind(self):
        value = c_int()
        _call("spdf_phase_get_kind", self.handle, byref(value))
        return value.value

    def transition(self, kind, mask=None, config=None, **fields):
        """Moves the model in place (fields: reset_moments, restart_schedule, optimizer)."""
        _call("spdf_phase_transition", self.handle, kind, mask.handle if mask else None,
              _config(TransitionConfig, config, fields))


class Dataset(_Handle):
    """Token ids: Dataset.load(path) or Dataset.from_tokens(ids)."""

    _free = "spdf_dataset_free"

    def __init__(self, *args, **kwargs):
        raise TypeError("use Dataset.load(path) or Dataset.from_tokens(tokens)")

    @classmethod
    def load(cls, path):
        out = c_void_p()
        _call("spdf_dataset_load", _path(path), byref(out))
        return _new_handle(cls, out)

    @classmethod
    def from_tokens(cls, tokens):
        pointer, count = _in(tokens, c_int32)
        out = c_void_p()
        _call("spdf_dataset_from_tokens", pointer, count, byref(out))
        return _new_handle(cls, out)

    @property
    def size(self):
        value = c_int64()
        _call("spdf_dataset_size", self.handle, byref(value))
        return value.value

    def __len__(self):
        return self.size

    def tokens(self):
        """Zero-copy memoryview of the ids (borrowed: valid while the dataset is open)."""
        pointer = POINTER(c_int32)()
        _call("spdf_dataset_tokens", self.handle, byref(pointer))
        return _borrowed(pointer, c_int32, self.size, self)

    @property
    def vocab_bound(self):
        value = c_int32()
        _call("spdf_dataset_vocab_bound", self.handle, byref(value))
        return value.value


class Sampler(_Handle):
    """(B, T+1) windows of a dataset: Sampler(dataset, B, T, seed=0, order=SAMPLE_RANDOM)."""

    _free = "spdf_sampler_free"

    def __init__(self, dataset, B, T, seed=0, order=SAMPLE_RANDOM):
        out = c_void_p()
        _call("spdf_sampler_create", dataset.handle, B, T, seed, order, byref(out))
        self.B, self.T = B, T
        super().__init__(out.value, dataset)

    def next(self):
        """(inputs, targets), each array('i') of B*T ids."""
        inputs = array.array("i", bytes(4 * self.B * self.T))
        targets = array.array("i", bytes(4 * self.B * self.T))
        inputs_p, _ = _in(inputs, c_int32)
        targets_p, _ = _in(targets, c_int32)
        _call("spdf_sampler_next", self.handle, inputs_p, targets_p)
        return inputs, targets

    @property
    def position(self):
        value = c_int64()
        _call("spdf_sampler_get_position", self.handle, byref(value))
        return value.value

    @position.setter
    def position(self, value):
        _call("spdf_sampler_set_position", self.handle, value)


class Bleu(_Handle):
    """A corpus of (hypothesis, references) segments scored with BLEU and NIST."""

    _free = "spdf_bleu_free"

    def __init__(self):
        out = c_void_p()
        _call("spdf_bleu_create", byref(out))
        super().__init__(out.value)

    def add(self, hypothesis, references):
        refs = _strings(references)
        _call("spdf_bleu_add", self.handle, _text(hypothesis), refs, len(refs))

    @property
    def count(self):
        value = c_int64()
        _call("spdf_bleu_count", self.handle, byref(value))
        return value.value

    def score(self, options=None, **fields):
        result = BleuResult()
        _call("spdf_bleu_score", self.handle, _config(BleuOptions, options, fields), byref(result))
        return result


class TaskData(_Handle):
    """Prompt/reference items of a task file: TaskData.load(path, TASK_E2E_CSV)."""

    _free = "spdf_task_data_free"

    def __init__(self, *args, **kwargs):
        raise TypeError("use TaskData.load(path, format)")

    @classmethod
    def load(cls, path, format):
        out = c_void_p()
        _call("spdf_task_data_load", _path(path), format, byref(out))
        return _new_handle(cls, out)

    @property
    def count(self):
        value = c_int64()
        _call("spdf_task_data_count", self.handle, byref(value))
        return value.value

    def __len__(self):
        return self.count

    def prompt(self, item):
        text = c_char_p()
        _call("spdf_task_data_prompt", self.handle, item, byref(text))
        return text.value.decode()

    def reference_count(self, item):
        value = c_int32()
        _call("spdf_task_data_reference_count", self.handle, item, byref(value))
        return value.value

    def reference(self, item, index):
        text = c_char_p()
        _call("spdf_task_data_reference", self.handle, item, index, byref(text))
        return text.value.decode()

    def references(self, item):
        refs = POINTER(c_char_p)()
        count = c_int32()
        _call("spdf_task_data_references", self.handle, item, byref(refs), byref(count))
        return [refs[i].decode() for i in range(count.value)]

    @property
    def pair_count(self):
        value = c_int64()
        _call("spdf_task_data_pair_count", self.handle, byref(value))
        return value.value

    def pair(self, index):
        """(prompt, target) of training pair `index`."""
        prompt, target = c_char_p(), c_char_p()
        _call("spdf_task_data_pair", self.handle, index, byref(prompt), byref(target))
        return prompt.value.decode(), target.value.decode()


def _strings(values):
    if isinstance(values, (str, bytes)):
        values = [values]
    return (c_char_p * len(values))(*[_text(v) for v in values])


# ---- functions without a handle -----------------------------------------------------------------


def version():
    """The loaded library's version string ("0.1.0")."""
    return lib.spdf_version_string().decode()


def version_number():
    return lib.spdf_version_number()


def backends():
    """[(name, available)] of the backends compiled into the library."""
    count = c_int32()
    _call("spdf_backend_count", byref(count))
    out = []
    for i in range(count.value):
        name = c_char_p()
        _call("spdf_backend_name", i, byref(name))
        out.append((name.value.decode(), backend_available(name.value)))
    return out


def backend_available(name):
    available = c_int32()
    _call("spdf_backend_available", _text(name), byref(available))
    return bool(available.value)


def byte_encode(text):
    """Ids of the bytes of text (str as UTF-8), as array('i')."""
    data = _text(text)
    out = array.array("i", bytes(4 * len(data)))
    pointer, _ = _in(out, c_int32)
    count = c_size_t()
    _call("spdf_byte_encode", data, len(data), pointer, len(data), byref(count))
    return out


def byte_decode(tokens):
    """The bytes of ids (SPDF_TOKEN_EOT becomes "<|endoftext|>")."""
    pointer, n = _in(tokens, c_int32)
    length = c_size_t()
    _call("spdf_byte_decode", pointer, n, None, 0, byref(length))
    out = ctypes.create_string_buffer(length.value or 1)
    _call("spdf_byte_decode", pointer, n, out, length.value, byref(length))
    return out.raw[:length.value]


class Tokenizer(_Handle):
    """Byte-level BPE: Tokenizer.train(text, vocab_size) or Tokenizer.load(path); GPT-2's
    files: Tokenizer.load_gpt2(vocab_json, merges_txt)."""

    _free = "spdf_tokenizer_free"

    @classmethod
    def train(cls, text, vocab_size):
        data = _text(text)
        out = c_void_p()
        _call("spdf_tokenizer_train", data, len(data), vocab_size, byref(out))
        return cls(out.value)

    @classmethod
    def load(cls, path):
        out = c_void_p()
        _call("spdf_tokenizer_load", _path(path), byref(out))
        return cls(out.value)

    @classmethod
    def load_gpt2(cls, vocab_path, merges_path):
        out = c_void_p()
        _call("spdf_tokenizer_load_gpt2", _path(vocab_path), _path(merges_path), byref(out))
        return cls(out.value)

    def save(self, path):
        _call("spdf_tokenizer_save", self.handle, _path(path))

    @property
    def vocab_size(self):
        value = c_int32()
        _call("spdf_tokenizer_vocab_size", self.handle, byref(value))
        return value.value

    @property
    def end_of_text(self):
        """The id that ends a text: TOKEN_EOT, or the id of GPT-2's "<|endoftext|>" (SpdfError
        SPDF_EUNSUPPORTED when its vocab.json has none)."""
        value = c_int32()
        _call("spdf_tokenizer_end_of_text", self.handle, byref(value))
        return value.value

    def encode(self, text):
        """Ids of text (str as UTF-8), as array('i')."""
        data = _text(text)
        count = c_size_t()
        _call("spdf_tokenizer_encode", self.handle, data, len(data), None, 0, byref(count))
        out = array.array("i", bytes(4 * count.value))
        pointer, _ = _in(out, c_int32)
        _call("spdf_tokenizer_encode", self.handle, data, len(data), pointer, count.value,
              byref(count))
        return out

    def decode(self, tokens):
        """The bytes of ids (SPDF_TOKEN_EOT becomes "<|endoftext|>")."""
        pointer, n = _in(tokens, c_int32)
        length = c_size_t()
        _call("spdf_tokenizer_decode", self.handle, pointer, n, None, 0, byref(length))
        out = ctypes.create_string_buffer(length.value or 1)
        _call("spdf_tokenizer_decode", self.handle, pointer, n, out, length.value, byref(length))
        return out.raw[:length.value]


def tokens_save(path, tokens, format=TOKENS_U32):
    pointer, count = _in(tokens, c_int32)
    _call("spdf_tokens_save", _path(path), pointer, count, format)


def checkpoint_save(path, model, optimizer=None, sampler=None):
    _call("spdf_checkpoint_save", _path(path), model.handle,
          optimizer.handle if optimizer else None, sampler.handle if sampler else None)


def checkpoint_load(path, ctx, optimizer=False, phase=False, sampler=None):
    """(model, optimizer or None, phase or None) from a checkpoint; a sampler given gets its
    position restored."""
    model_out, opt_out, phase_out = c_void_p(), c_void_p(), c_void_p()
    _call("spdf_checkpoint_load", _path(path), ctx.handle, byref(model_out),
          byref(opt_out) if optimizer else None, byref(phase_out) if phase else None,
          sampler.handle if sampler else None)
    model = _new_handle(Model, model_out, ctx)
    opt = _new_handle(Optimizer, opt_out, model) if optimizer else None
    ph = _new_handle(Phase, phase_out, model, opt) if phase else None
    return model, opt, ph


def checkpoint_info(path):
    info = CheckpointInfo()
    _call("spdf_checkpoint_info_read", _path(path), byref(info))
    return info


def flops(config, context, batch, sparsity):
    """FLOP report for a ModelConfig, a context length, a batch size and a sparsity."""
    report = FlopReport()
    _call("spdf_flops", byref(config), context, batch, sparsity, byref(report))
    return report


def sentence_bleu(hypothesis, references, options=None, **fields):
    refs = _strings(references)
    value = c_double()
    _call("spdf_sentence_bleu", _text(hypothesis), refs, len(refs),
          _config(BleuOptions, options, fields), byref(value))
    return value.value


def bleu_from_stats(matches, totals, hyp_length, ref_length, options=None, **fields):
    matches_p, _ = _in(list(matches), c_int64)
    totals_p, _ = _in(list(totals), c_int64)
    value = c_double()
    _call("spdf_bleu_from_stats", _config(BleuOptions, options, fields), matches_p, totals_p,
          hyp_length, ref_length, byref(value))
    return value.value


def hf_config(model_or_config):
    """A transformers GPT2Config dictionary (config.json) for a Model or ModelConfig, so that a
    directory holding it and an exported model.safetensors loads with
    GPT2LMHeadModel.from_pretrained(directory)."""
    c = model_or_config.config if isinstance(model_or_config, Model) else model_or_config
    config = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
            "vocab_size": c.vocab_size, "n_positions": c.max_seq_len, "n_ctx": c.max_seq_len,
            "n_embd": c.channels, "n_layer": c.num_layers, "n_head": c.num_heads,
            "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0,
            "tie_word_embeddings": True}
    if c.vocab_size == BYTE_VOCAB_SIZE:  # the byte tokenizer's end of text
        config.update(bos_token_id=TOKEN_EOT, eos_token_id=TOKEN_EOT)
    return config
