"""Every error the server can reply with: classes keyed by the Redis prefix, and the message texts.

Texts match Redis 7.0 and RedisAI byte for byte; a reply is the text itself (prefix included).
"""
from __future__ import annotations


class CommandError(Exception):
    """An error reply. ``text`` is the whole reply line without the leading '-' (e.g. ``ERR syntax error``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    @property
    def prefix(self) -> str:
        """The first word of the reply, used by INFO errorstats (``ERR``, ``WRONGTYPE``...)."""
        return self.text.split(" ", 1)[0]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandError) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


class ProtocolError(Exception):
    """Malformed client input; the connection gets ``-ERR Protocol error: ...`` and is closed.

    ``completed``: the requests that arrived whole before the malformed one; they run first, as in Redis.
    """

    completed: list[list[bytes]] = []


# ---- generic (Redis server.c / networking.c) -------------------------------------------------------------
SYNTAX = "ERR syntax error"
NOT_INTEGER = "ERR value is not an integer or out of range"
NOT_FLOAT = "ERR value is not a valid float"
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"
NO_SUCH_KEY = "ERR no such key"
OVERFLOW = "ERR increment or decrement would overflow"
INCR_NAN = "ERR increment would produce NaN or Infinity"
HASH_NOT_INTEGER = "ERR hash value is not an integer"
HASH_NOT_FLOAT = "ERR hash value is not a float"
INDEX_OUT_OF_RANGE = "ERR index out of range"
DB_INDEX_OUT_OF_RANGE = "ERR DB index is out of range"
INVALID_EXPIRE = "ERR invalid expire time in '{}' command"
NOT_POSITIVE = "ERR value is out of range, must be positive"
NOT_INT32 = "ERR value is out of range, value must between -2147483648 and 2147483647"   # sic, Redis's wording
NOAUTH = "NOAUTH Authentication required."
WRONGPASS = "WRONGPASS invalid username-password pair or user is disabled."
AUTH_NOT_SET = ("ERR AUTH <password> called without any password configured for the default user. "
                "Are you sure your configuration is correct?")
NOPROTO = "NOPROTO unsupported protocol version"
MULTI_NESTED = "ERR MULTI calls can not be nested"
EXEC_WITHOUT_MULTI = "ERR EXEC without MULTI"
DISCARD_WITHOUT_MULTI = "ERR DISCARD without MULTI"
WATCH_IN_MULTI = "ERR WATCH inside MULTI is not allowed"
DENIED_IN_MULTI = "ERR Command not allowed inside a transaction"
EXECABORT = "EXECABORT Transaction discarded because of previous errors."
EXECABORT_BECAUSE = "EXECABORT Transaction discarded because of: {}"
UNKNOWN_COMMAND = "ERR unknown command '{}', with args beginning with: {}"
UNKNOWN_SUBCOMMAND = "ERR unknown subcommand '{}'. Try {} HELP."
WRONG_ARITY = "ERR wrong number of arguments for '{}' command"
SAME_OBJECT = "ERR source and destination objects are the same"
LIMIT_WITH_COUNT = "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
MIN_MAX_NOT_FLOAT = "ERR min or max is not a float"
MIN_MAX_NOT_STRING = "ERR min or max not valid string range item"
ZADD_XX_NX = "ERR XX and NX options at the same time are not compatible"
ZADD_GT_LT_NX = "ERR GT, LT, and/or NX options at the same time are not compatible"
ZADD_INCR_PAIR = "ERR INCR option supports a single increment-element pair"
SCORE_NAN = "ERR resulting score is not a number (NaN)"
BIT_OFFSET = "ERR offset is out of range"
BIT_OFFSET_BITMAP = "ERR bit offset is not an integer or out of range"
BIT_VALUE = "ERR bit is not an integer or out of range"
BIT_ARGUMENT = "ERR The bit argument must be 1 or 0."
BITOP_NOT_ONE_KEY = "ERR BITOP NOT must be called with a single source key."
STRING_TOO_LONG = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
CONFIG_UNKNOWN_OPTION = "ERR Unknown option or number of arguments for CONFIG SET - '{}'"
CONFIG_SET_FAILED = "ERR CONFIG SET failed (possibly related to argument '{}') - {}"
CLIENT_NO_SUCH = "ERR No such client"
CLIENT_NAME_SPACES = "ERR Client names cannot contain spaces, newlines or special characters."
SHUTDOWN_FAILED = "ERR Errors trying to SHUTDOWN. Check logs."
AOF_MISCONF = ("MISCONF Errors writing to the AOF file: commands that may modify the data set are disabled, "
               "because the server cannot write to the append-only file (see the log)")
SLOWLOG_COUNT = "ERR count should be greater than or equal to -1"

# ---- RedisAI (spec/redisai-commands.md) -----------------------------------------------------------------
AI_IN_TRANSACTION = "ERR Cannot run RedisAI command within a transaction or a LUA script"
AI_INVALID_DTYPE = "ERR invalid data type"
AI_BAD_SHAPE = "ERR invalid or negative value found in tensor shape"
AI_BLOB_SINGLE = "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command"
AI_BLOB_LENGTH = "ERR data length does not match tensor shape and type"
AI_BOOL_VALUES = "ERR BOOL tensor elements must be 0 or 1"
AI_STRING_COUNT = "ERR Number of string elements in data blob does not match tensor length"
AI_VALUES_COUNT = "ERR wrong number of values was given in 'AI.TENSORSET' command"
AI_INVALID_VALUE = "ERR invalid value"
AI_STRING_NUL = "ERR C-string value contains null character"
AI_TENSOR_EMPTY = "ERR tensor key is empty or in a different shard"
AI_TENSOR_FORMAT = "ERR unsupported data format"
AI_BLOB_AND_VALUES = "ERR both BLOB and VALUES specified"
AI_UNSUPPORTED_BACKEND = "ERR unsupported backend"
AI_INVALID_DEVICE = "ERR Invalid DEVICE"
AI_MODEL_EMPTY = "ERR model key is empty"
AI_SCRIPT_EMPTY = "ERR script key is empty"
AI_NO_RUN_INFO = "ERR cannot find run info for key"
AI_BATCH_SIZE = "ERR Model did not generate the expected batch size"
AI_UNSUPPORTED_SUBCOMMAND = "ERR unsupported subcommand"


def wrong_arity(name: str) -> CommandError:
    """Redis's arity error; ``name`` is the command as the client typed it."""
    return CommandError(WRONG_ARITY.format(name))


def unknown_command(argv: list[bytes]) -> CommandError:
    """Redis 7's unknown-command error, quoting up to the first 128 bytes of each argument."""
    name = argv[0].decode("utf-8", "replace")
    args = "".join(f"'{a[:128].decode('utf-8', 'replace')}' " for a in argv[1:])
    return CommandError(UNKNOWN_COMMAND.format(name[:128], args))


def unknown_subcommand(sub: bytes, command: str) -> CommandError:
    """Redis 7's unknown-subcommand error (``CLIENT FOO``)."""
    return CommandError(UNKNOWN_SUBCOMMAND.format(sub.decode("utf-8", "replace")[:128], command.upper()))

# ---- scheduler and DAGs (inferd) ---------------------------------------------------------------------------
QUEUE_FULL = "ERR queue of device {} is full (queue-max-depth {}): request refused, try again later"
SHUTTING_DOWN = "ERR the server is shutting down: queued model run dropped"
SHUTTING_DOWN_BLOCKED = "ERR the server is shutting down: blocking command released"


# ---- keys and data types (Redis 7.0 db.c, expire.c, t_*.c) ----------------------------------------------
INVALID_CURSOR = "ERR invalid cursor"
EXPIRE_NX_AND_OTHERS = "ERR NX and XX, GT or LT options at the same time are not compatible"
EXPIRE_GT_AND_LT = "ERR GT and LT options at the same time are not compatible"
UNSUPPORTED_OPTION = "ERR Unsupported option {}"
DECR_OVERFLOW = "ERR decrement would overflow"
RANGE_OUT_OF_RANGE = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807"
VALUE_OUT_OF_RANGE = "ERR value is out of range"
INVALID_FIRST_DB = "ERR invalid first DB index"
INVALID_SECOND_DB = "ERR invalid second DB index"
WITHSCORES_WITH_BYLEX = "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
LPOS_RANK_ZERO = ("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use "
                  "negative to start from the end of the list")
LPOS_COUNT_NEGATIVE = "ERR COUNT can't be negative"
LPOS_MAXLEN_NEGATIVE = "ERR MAXLEN can't be negative"
OBJECT_FREQ_NO_LFU = ("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
                      "when switching between policies at runtime LRU and LFU data will take some time to adjust.")


# ---- RedisAI tensors, models and AI admin commands (spec/redisai-commands.md sections 1, 2, 5) -------------
AI_UNSUPPORTED_OUTPUT_TYPE = "ERR backend output of type {} cannot be stored as a tensor"
AI_TENSOR_TOO_LARGE = "ERR tensor is larger than proto-max-bulk-len"
AI_COULD_NOT_LOAD_BACKEND = "ERR Could not load backend {}: {}"
AI_ERROR_LOADING_BACKEND = "ERR error loading backend"
AI_BACKENDSPATH_MISSING = "ERR BACKENDSPATH: missing path argument"
AI_CHUNK_MISSING = "ERR MODEL_CHUNK_SIZE: missing chunk size"
AI_CHUNK_INVALID = "ERR MODEL_CHUNK_SIZE: invalid chunk size"
AI_BAD_BATCHSIZE = "ERR Invalid argument for BATCHSIZE"
AI_BAD_MINBATCHSIZE = "ERR Invalid argument for MINBATCHSIZE"
AI_MINBATCHSIZE_WITHOUT_BATCHSIZE = "ERR MINBATCHSIZE specified without BATCHSIZE"
AI_BAD_MINBATCHTIMEOUT = "ERR Invalid argument for MINBATCHTIMEOUT"
AI_MINBATCHTIMEOUT_WITHOUT_MINBATCHSIZE = "ERR MINBATCHTIMEOUT specified without MINBATCHSIZE"
AI_MINBATCHTIMEOUT_WITHOUT_BATCHSIZE = "ERR MINBATCHTIMEOUT specified without BATCHSIZE"
AI_MISSING_BLOB = "ERR Insufficient arguments, missing model BLOB"
AI_EXPECTED_BLOB = "ERR Invalid argument, expected BLOB"
AI_TF_INPUTS_MISSING = "ERR INPUTS not specified for TF"
AI_TF_OUTPUTS_MISSING = "ERR OUTPUTS not specified for TF"
AI_TF_NO_INPUTS_OUTPUTS = "ERR Insufficient arguments, INPUTS and OUTPUTS not specified"
AI_BAD_INPUT_COUNT = "ERR Invalid argument for input_count"
AI_BAD_OUTPUT_COUNT = "ERR Invalid argument for output_count"
AI_MODEL_INPUT_NAMES = "ERR number of model inputs does not match the number of given arguments"
AI_MODEL_OUTPUT_NAMES = "ERR number of model outputs does not match the number of given arguments"
AI_INPUTS_NOT_FOR_BACKEND = "ERR INPUTS argument should not be specified for this backend"
AI_TFLITE_NO_BATCHING = "ERR Auto-batching not supported by the TFLITE backend"
AI_INPUTS_NOT_SPECIFIED = "ERR INPUTS not specified"
AI_OUTPUTS_NOT_SPECIFIED = "ERR OUTPUTS not specified"
AI_INPUT_COUNT_NOT_POSITIVE = "ERR Input count must be a positive integer"
AI_OUTPUT_COUNT_NOT_POSITIVE = "ERR Output count must be a positive integer"
AI_INPUTS_VS_MODEL = "Number of keys given as INPUTS here does not match model definition"
AI_OUTPUTS_VS_MODEL = "Number of keys given as OUTPUTS here does not match model definition"
AI_INPUT_KEYS_VS_ARGS = ("ERR number of input keys to AI.MODELEXECUTE command does not match the number of given "
                         "arguments")
AI_OUTPUT_KEYS_VS_ARGS = ("ERR number of output keys to AI.MODELEXECUTE command does not match the number of given "
                          "arguments")
AI_TIMEOUT_NO_VALUE = "ERR No value provided for TIMEOUT"
AI_TIMEOUT_INVALID = "ERR Invalid value for TIMEOUT"
AI_INVALID_ARGUMENT = "Invalid argument: {}"
AI_OUTPUT_COUNT_FROM_MODEL = "ERR Model did not generate the expected number of outputs"
AI_TF_INVALID_GRAPHDEF = "Invalid GraphDef"
AI_TF_INPUT_NODE = 'ERR Input node named "{}" not found in TF graph.'
AI_TF_OUTPUT_NODE = 'ERR Output node named "{}" not found in TF graph'
AI_TF_SAVEDMODEL = "ERR TF SavedModel archive: {}"
AI_ONNX_EXTERNAL_DATA = "Initializer tensors with external data is not allowed."
AI_ONNX_NOT_A_TENSOR = "ERR ONNX output '{}' is not a tensor (for classifiers convert with zipmap disabled)"
AI_TFLITE_LOAD = "Failed to load model from buffer"
AI_TFLITE_INPUT_TYPE = "Input tensor type doesn't match the type expected by the model definition"
AI_DEVICE_UNAVAILABLE = "ERR device {} is not available to the {} backend"
AI_STRING_INPUT_UNSUPPORTED = "ERR STRING tensors are not supported as inputs by the {} backend"
INCR_NOT_FINITE = "ERR value is NaN or Infinity"
NUMKEYS_NOT_POSITIVE = "ERR numkeys should be greater than 0"
COUNT_NOT_POSITIVE = "ERR count should be greater than 0"
ZSET_OP_NO_KEYS = "ERR at least 1 input key is needed for '{}' command"
WEIGHT_NOT_FLOAT = "ERR weight value is not a float"
TIMEOUT_NOT_FLOAT = "ERR timeout is not a float or out of range"
TIMEOUT_NEGATIVE = "ERR timeout is negative"
UNBLOCKED = "UNBLOCKED client unblocked via CLIENT UNBLOCK"
UNBLOCK_REASON = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
SUBCOMMAND_SYNTAX = "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP."
NUMKEYS_TOO_MANY = "ERR Number of keys can't be greater than number of args"
LIMIT_NEGATIVE = "ERR LIMIT can't be negative"

# ---- DAGs (spec/redisai-commands.md section 4) ---------------------------------------------------------------
DAG_MISSING_ARGS = "ERR missing arguments for '{}' command"
DAG_NO_KEYWORD = ("ERR AI.DAGEXECUTE and AI.DAGEXECUTE_RO commands must contain at least one out of ROUTING, LOAD, "
                  "PERSIST keywords")
DAG_UNEXPECTED = "ERR Invalid DAG command. Unexpected argument:  {}"   # two spaces, as RedisAI
DAG_EMPTY = "ERR DAG is empty"
DAG_LOAD_MISSING = "ERR missing arguments after LOAD keyword in DAG command"
DAG_LOAD_COUNT = "ERR invalid or negative value found in number of keys to LOAD"
DAG_LOAD_MISMATCH = "ERR number of keys to LOAD into DAG does not match the number of given arguments"
DAG_PERSIST_MISSING = "ERR missing arguments after PERSIST keyword in DAG command"
DAG_PERSIST_COUNT = "ERR invalid or negative value found in number of keys to PERSIST"
DAG_PERSIST_UNIQUE = "ERR PERSIST keys must be unique"
DAG_PERSIST_MISMATCH = "ERR number of keys to PERSIST after DAG execution does not match the number of given arguments"
DAG_PERSIST_IN_RO = "ERR PERSIST cannot be specified in a read-only DAG"
DAG_PERSIST_NOT_FOUND = "ERR PERSIST key cannot be found in DAG"
DAG_ROUTING_MISSING = "ERR Missing ROUTING value"
DAG_INPUT_NOT_FOUND = "ERR INPUT key cannot be found in DAG"
DAG_TIMEOUT_IN_OP = "ERR TIMEOUT not allowed within a DAG command"
DAG_SCRIPT_IN_RO = "ERR AI.SCRIPTEXECUTE command cannot be specified in a read-only DAG"
DAG_DEPRECATED_OP = "Deprecated {} cannot be used in AI.DAGEXECUTE command"
DAG_NEW_OP_IN_DAGRUN = "{} cannot be used in a deprecated AI.DAGRUN command"
DAG_UNSUPPORTED_OP = "Unsupported command within DAG"
DAG_OP_ARITY = "wrong number of arguments for '{}' command"           # DAG ops: no ERR prefix, as RedisAI

# ---- scripts (spec/redisai-commands.md section 3) ------------------------------------------------------------
SCRIPT_MISSING_ENTRY_POINTS = "ERR Insufficient arguments, missing script entry points"
SCRIPT_ENTRY_POINTS_COUNT = "ERR Non numeric entry points number provided to AI.SCRIPTSTORE command"
SCRIPT_MISSING_SOURCE = "ERR Insufficient arguments, missing script SOURCE"
AI_SCRIPT_NO_FUNCTION = "Function {} does not exist in the given script."
AI_SCRIPT_ENTRY_ARITY = "Wrong number of inputs in function {}. Expected 3 but was {}"
AI_SCRIPT_ENTRY_TYPES = ("Wrong inputs type in function {}. Expected signature similar to: "
                         "def {}(tensors: List[Tensor], keys: List[str], args: List[str])")
AI_SCRIPT_FUNCTION_MISSING = "Function does not exist: {}"
AI_SCRIPT_POSITIONAL_COUNT = "Wrong number of inputs provided to function: {}"
AI_SCRIPT_POSITIONAL_TYPE = "Unsupported input type in function definition: {}"
AI_SCRIPT_OUTPUT_COUNT = "Function returned unexpected number of outputs - {}"
AI_SCRIPT_NON_TENSOR = "Function returned non-tensor values{}"                  # no space, as RedisAI
SCRIPTEXECUTE_FIRST_SCOPE = "ERR KEYS or INPUTS scope must be provided first for AI.SCRIPTEXECUTE command"
SCRIPTEXECUTE_SCOPE_TWICE = "ERR Already Encountered {} scope in AI.SCRIPTEXECUTE command"
SCRIPTEXECUTE_KEYS_MISSING = "ERR Missing arguments after KEYS keyword"
SCRIPTEXECUTE_KEYS_COUNT = "ERR Invalid or negative value found in number of KEYS"
SCRIPTEXECUTE_KEYS_MISMATCH = ("ERR Number of pre declared KEYS to be used in the command does not match the number "
                               "of given arguments")
SCRIPTEXECUTE_SCOPE_LAST = "ERR Invalid arguments provided to AI.SCRIPTEXECUTE"
SCRIPTEXECUTE_INPUTS_COUNT = "ERR Invalid argument for inputs count in AI.SCRIPTEXECUTE"
SCRIPTEXECUTE_OUTPUTS_COUNT = "ERR Invalid argument for outputs count in AI.SCRIPTEXECUTE"
SCRIPTEXECUTE_ARGS_COUNT = "ERR Invalid argument for keys count in AI.SCRIPTEXECUTE"   # sic: ARGS says "keys"
SCRIPTEXECUTE_MISMATCH = "ERR number of {} to AI.SCRIPTEXECUTE command does not match the number of given arguments"
SCRIPTEXECUTE_UNEXPECTED = "ERR Invalid AI.SCRIPTEXECUTE command. Unexpected argument: {}"
SCRIPTEXECUTE_TIMEOUT_NO_VALUE = "ERR No value provided for TIMEOUT in AI.SCRIPTEXECUTE"
SCRIPTEXECUTE_AFTER_TIMEOUT = "ERR Encountered problem parsing AI.SCRIPTEXECUTE"
SCRIPTRUN_TIMEOUT_TWICE = "ERR Already encountered an TIMEOUT section in SCRIPTRUN"
SCRIPTRUN_INPUTS_SECTION_TWICE = "ERR Already encountered an INPUTS section in SCRIPTRUN"
SCRIPTRUN_INPUTS_KEYWORD_TWICE = "ERR Already encountered an INPUTS keyword in SCRIPTRUN"
SCRIPTRUN_OUTPUTS_TWICE = "ERR Already encountered an OUTPUTS keyword in SCRIPTRUN"
SCRIPTRUN_VARIADIC_OUTSIDE = "ERR Encountered a variable size list of tensors outside of input section"
SCRIPTRUN_VARIADIC_TWICE = "ERR Already encountered a variable size list of tensors"
SCRIPTRUN_UNRECOGNIZED = "ERR Unrecongnized parameter to SCRIPTRUN"              # sic
SCRIPT_REDIS_ERROR = "Redis command returned an error: {}"
SCRIPT_COMMAND_REFUSED = "ERR This Redis command is not allowed from script"
