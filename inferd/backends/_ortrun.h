/* What the ONNX Runtime extension shares between its files: _ortrun.c (the module, onnxruntime's C API loaded by
 * slot, the Session) and _ortrun_executor.c (the Executor and its native thread). The shared symbols carry an ort_
 * prefix: the extension's symbols are not hidden, so no generic name may stand alone.
 */
#ifndef INFERD_ORTRUN_H
#define INFERD_ORTRUN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

typedef struct OrtStatus OrtStatus;
typedef struct OrtEnv OrtEnv;
typedef struct OrtSession OrtSession;
typedef struct OrtSessionOptions OrtSessionOptions;
typedef struct OrtRunOptions OrtRunOptions;
typedef struct OrtValue OrtValue;
typedef struct OrtMemoryInfo OrtMemoryInfo;
typedef struct OrtTensorTypeAndShapeInfo OrtTensorTypeAndShapeInfo;
typedef struct {
    const void *(*GetApi)(uint32_t version);
    const char *(*GetVersionString)(void);
} OrtApiBase;

#define API_VERSION 16   /* onnxruntime 1.16: every slot used here exists since then */

/* Slots of the OrtApi table. */
enum {
    S_CreateStatus = 0,
    S_GetErrorMessage = 2,
    S_CreateEnv = 3,
    S_CreateSessionFromArray = 8,
    S_Run = 9,
    S_CreateSessionOptions = 10,
    S_SetIntraOpNumThreads = 24,
    S_SetInterOpNumThreads = 25,
    S_CreateRunOptions = 39,
    S_RunOptionsSetRunLogSeverityLevel = 41,
    S_RunOptionsSetTerminate = 46,
    S_CreateTensorWithDataAsOrtValue = 49,
    S_IsTensor = 50,
    S_GetTensorMutableData = 51,
    S_GetTensorElementType = 60,
    S_GetDimensionsCount = 61,
    S_GetDimensions = 62,
    S_GetTensorTypeAndShape = 65,
    S_CreateCpuMemoryInfo = 69,
    S_ReleaseEnv = 92,
    S_ReleaseStatus = 93,
    S_ReleaseMemoryInfo = 94,
    S_ReleaseSession = 95,
    S_ReleaseValue = 96,
    S_ReleaseRunOptions = 97,
    S_ReleaseTensorTypeAndShapeInfo = 99,
    S_ReleaseSessionOptions = 100,
    S_AddSessionConfigEntry = 130,
};

extern void *const *ort_api;         /* the OrtApi table */
extern OrtEnv *ort_env;
extern OrtMemoryInfo *ort_cpu_memory;
extern PyObject *ort_error;          /* _ortrun.Error: a failed run or load, with onnxruntime's message */
extern PyTypeObject ort_session_type, ort_executor_type;

#define API(slot, type) ((type)ort_api[slot])

/* onnxruntime's message of a failed call (consumes the status); always returns NULL. */
PyObject *ort_raise_status(OrtStatus *status);

/* The Session: an OrtSession and its input and output names, as the executor runs it. */
typedef struct {
    PyObject_HEAD
    OrtSession *session;
    Py_ssize_t n_inputs, n_outputs;
    char **names;   /* n_inputs input names, then n_outputs output names */
} SessionObject;

#endif
