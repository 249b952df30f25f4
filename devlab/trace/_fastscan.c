/* Wire-format scanner for the hot packets of a Perfetto trace (devlab.trace.fastscan wraps it).

   The built-in reader spends its time reading ftrace events and GPU render stages field by field through upb.
   This walks the protobuf bytes of those packets directly and hands back compact tuples; any packet that is
   not plainly one of the hot forms (another oneof member, a repeated oneof field that protobuf would merge, a
   field with an unexpected wire type, text that is not UTF-8, ...) is handed back to Python untouched, so the
   upb path decides it exactly as before. Field numbers come from perfetto's descriptors via configure(). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define OK 0
#define FALLBACK 1      /* the packet goes the Python (upb) way */
#define FAILED (-1)     /* a Python exception is set */

enum {
    F_PKT_FTRACE, F_PKT_STAGE, F_PKT_TIMESTAMP, F_PKT_SEQ_ID, F_PKT_SEQ_FLAGS, F_PKT_CLOCK_ID, F_PKT_DEFAULTS,
    F_PKT_INTERNED,
    F_BUNDLE_CPU, F_BUNDLE_EVENT, F_BUNDLE_COMPACT,
    F_EV_TIMESTAMP, F_EV_PID, F_EV_PRINT, F_EV_SWITCH, F_EV_CPUFREQ, F_EV_GPUFREQ, F_EV_THERMAL,
    F_PRINT_BUF,
    F_SW_PREV_PID, F_SW_NEXT_COMM, F_SW_NEXT_PID,
    F_CPUFREQ_STATE, F_CPUFREQ_CPU, F_GPUFREQ_ID, F_GPUFREQ_STATE, F_THERMAL_TEMP, F_THERMAL_ZONE,
    F_ST_DURATION, F_ST_HWQ_IID, F_ST_STAGE_IID, F_ST_CONTEXT, F_ST_SUBMISSION, F_ST_NAME, F_ST_SPECS,
    F_ST_HWQ_ID, F_ST_STAGE_ID,
    N_FIELDS
};

static uint32_t fields[N_FIELDS];
static unsigned char *packet_oneof = NULL;   /* field number -> 1 when it is a TracePacket `data` member */
static Py_ssize_t packet_oneof_len = 0;
static unsigned char *event_oneof = NULL;    /* field number -> 1 when it is an FtraceEvent `event` member */
static Py_ssize_t event_oneof_len = 0;
static int configured = 0;
static PyObject *s_khz = NULL;
static PyObject *s_gpufreq = NULL;
static PyObject *s_celsius = NULL;

typedef const uint8_t *ptr;

static inline int varint(ptr *p, ptr end, uint64_t *out) {
    uint64_t value = 0;
    int shift = 0;
    ptr q = *p;
    while (q < end && shift < 70) {
        uint8_t byte = *q++;
        value |= (uint64_t)(byte & 0x7F) << (shift < 64 ? shift : 63);
        if (byte < 0x80) {
            *p = q;
            *out = value;
            return 1;
        }
        shift += 7;
    }
    return 0;
}

/* One field's header; its payload bounds for wire type 2. 0 when malformed or a group (upb decides those). */
static inline int field(ptr *p, ptr end, uint32_t *number, int *wire, uint64_t *scalar, ptr *data, ptr *data_end) {
    uint64_t tag, length;
    if (!varint(p, end, &tag) || tag > 0xFFFFFFFFu || (tag >> 3) == 0)
        return 0;
    *number = (uint32_t)(tag >> 3);
    *wire = (int)(tag & 7);
    switch (*wire) {
    case 0:
        return varint(p, end, scalar);
    case 1:
        if (end - *p < 8) return 0;
        *p += 8;
        return 1;
    case 5:
        if (end - *p < 4) return 0;
        *p += 4;
        return 1;
    case 2:
        if (!varint(p, end, &length) || length > (uint64_t)(end - *p)) return 0;
        *data = *p;
        *data_end = *p + length;
        *p = *data_end;
        return 1;
    default:
        return 0;
    }
}

/* A whole message's worth of fields, checked for well-formedness only (skipped parts of hot packets). */
static int well_formed(ptr p, ptr end) {
    uint32_t number;
    int wire;
    uint64_t scalar;
    ptr d, de;
    while (p < end)
        if (!field(&p, end, &number, &wire, &scalar, &d, &de)) return 0;
    return 1;
}

/* The same few print lines and names recur all through a trace: one shared str each, so the Python side's dict
   lookups on them hit by identity with the hash already cached. Direct-mapped, keyed by the bytes. */
#define CACHE_SLOTS 1024
#define CACHE_MAX_LEN 96
static PyObject *cache[CACHE_SLOTS];

static PyObject *text(ptr p, ptr end) {
    Py_ssize_t n = end - p;
    uint32_t h = 2166136261u;
    if (n <= CACHE_MAX_LEN) {
        for (ptr q = p; q < end; q++) h = (h ^ *q) * 16777619u;
        PyObject *hit = cache[h % CACHE_SLOTS];
        if (hit != NULL) {
            Py_ssize_t size;
            const char *utf8 = PyUnicode_AsUTF8AndSize(hit, &size);
            if (utf8 != NULL && size == n && memcmp(utf8, p, n) == 0) return Py_NewRef(hit);
        }
    }
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (s != NULL && n <= CACHE_MAX_LEN) {
        Py_XSETREF(cache[h % CACHE_SLOTS], Py_NewRef(s));
        return s;
    }
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        PyErr_Clear();   /* NULL without an exception: not UTF-8, so the packet goes the upb way */
    return s;
}

#define EXPECT(wanted) do { if (wire != (wanted)) return FALLBACK; } while (0)
#define NEXT_FIELD(p, end) \
    if (!field(&p, end, &number, &wire, &scalar, &d, &de)) return FALLBACK

#define STAGE_SLOTS 64
typedef struct {
    PyObject *prints, *direct;
    PyObject *stage_names;    /* summary mode: {seq id: {stage iid: name}} for sequences read without clocks */
    PyObject *stage_groups;   /* summary mode: {name: [duration, ...]} */
    uint64_t lo, hi;
    int spanned;
    PyObject *scheds;         /* summary mode: sched switches apart from the counters (their order is kept) */
    Py_ssize_t added_prints, added_direct, added_scheds;
    PyObject *stage_list[STAGE_SLOTS];   /* borrowed durations lists of interned stages, by (seq, iid) */
    uint64_t stage_seq[STAGE_SLOTS], stage_iid[STAGE_SLOTS];   /* to roll a packet back when it turns out to need upb */
} Out;

/* Appends (ts, pid, buf) for a print, (cpu, ts, prev, next, comm) for sched_switch, (name, unit, ts, value) for
   frequencies and thermal zone temperatures; other event kinds are skipped, as the Python path skips them. */
static int ftrace_event(ptr p, ptr end, PyObject *cpu, Out *out, uint64_t *ts_out) {
    PyObject *prints = out->prints, *direct = out->direct;
    uint32_t number, kind = 0;
    int wire, kinds = 0;
    uint64_t scalar = 0, ts = 0, pid = 0;
    ptr d = NULL, de = NULL, body = NULL, body_end = NULL;
    while (p < end) {
        NEXT_FIELD(p, end);
        if (number == fields[F_EV_TIMESTAMP]) { EXPECT(0); ts = scalar; }
        else if (number == fields[F_EV_PID]) { EXPECT(0); pid = (uint32_t)scalar; }
        else if (number < event_oneof_len && event_oneof[number]) {
            /* a second oneof member (or the same one twice: protobuf merges) is left to upb */
            if (++kinds > 1) return FALLBACK;
            EXPECT(2);
            kind = number; body = d; body_end = de;
        }
    }
    *ts_out = ts;
    if (kinds == 0) return OK;
    if (kind == fields[F_EV_PRINT]) {
        ptr buf = NULL, buf_end = NULL;
        p = body;
        while (p < body_end) {
            NEXT_FIELD(p, body_end);
            if (number == fields[F_PRINT_BUF]) { EXPECT(2); buf = d; buf_end = de; }
        }
        PyObject *s = buf ? text(buf, buf_end) : PyUnicode_New(0, 0);
        if (s == NULL) return PyErr_Occurred() ? FAILED : FALLBACK;
        /* the hottest object of the scan: built directly, not through Py_BuildValue's format parsing */
        PyObject *item = PyTuple_New(3), *ts_obj = PyLong_FromUnsignedLongLong(ts);
        /* one thread's prints come in runs: reuse its pid object */
        static PyObject *last_pid = NULL;
        static uint64_t last_pid_value = 0;
        if (last_pid == NULL || last_pid_value != pid) {
            PyObject *fresh = PyLong_FromUnsignedLong((unsigned long)pid);
            if (fresh != NULL) { Py_XSETREF(last_pid, fresh); last_pid_value = pid; }
        }
        PyObject *pid_obj = last_pid ? Py_NewRef(last_pid) : NULL;
        if (item == NULL || ts_obj == NULL || pid_obj == NULL) {
            Py_XDECREF(item); Py_XDECREF(ts_obj); Py_XDECREF(pid_obj); Py_DECREF(s);
            return FAILED;
        }
        PyTuple_SET_ITEM(item, 0, ts_obj);
        PyTuple_SET_ITEM(item, 1, pid_obj);
        PyTuple_SET_ITEM(item, 2, s);
        /* ints and a str cannot form a cycle: keep the cyclic GC from walking the waiting prints (CPython
           untracks such tuples itself, but only once a collection has looked at them) */
        PyObject_GC_UnTrack(item);
        int rc = PyList_Append(prints, item);
        Py_DECREF(item);
        return rc ? FAILED : OK;
    }
    if (kind == fields[F_EV_SWITCH]) {
        ptr comm = NULL, comm_end = NULL;
        int32_t prev = 0, next = 0;
        p = body;
        while (p < body_end) {
            NEXT_FIELD(p, body_end);
            if (number == fields[F_SW_PREV_PID]) { EXPECT(0); prev = (int32_t)(uint32_t)scalar; }
            else if (number == fields[F_SW_NEXT_PID]) { EXPECT(0); next = (int32_t)(uint32_t)scalar; }
            else if (number == fields[F_SW_NEXT_COMM]) { EXPECT(2); comm = d; comm_end = de; }
        }
        PyObject *s = comm ? text(comm, comm_end) : PyUnicode_New(0, 0);
        if (s == NULL) return PyErr_Occurred() ? FAILED : FALLBACK;
        PyObject *item = Py_BuildValue("(OKiiN)", cpu, (unsigned long long)ts, prev, next, s);
        if (item == NULL) return FAILED;
        int rc = PyList_Append(out->scheds ? out->scheds : direct, item);
        Py_DECREF(item);
        return rc ? FAILED : OK;
    }
    if (kind == fields[F_EV_CPUFREQ] || kind == fields[F_EV_GPUFREQ]) {
        int gpu = kind == fields[F_EV_GPUFREQ];
        uint32_t state = 0, id = 0;
        p = body;
        while (p < body_end) {
            NEXT_FIELD(p, body_end);
            if (number == fields[gpu ? F_GPUFREQ_STATE : F_CPUFREQ_STATE]) { EXPECT(0); state = (uint32_t)scalar; }
            else if (number == fields[gpu ? F_GPUFREQ_ID : F_CPUFREQ_CPU]) { EXPECT(0); id = (uint32_t)scalar; }
        }
        PyObject *name;
        if (gpu && id == 0) { name = s_gpufreq; Py_INCREF(name); }
        else name = PyUnicode_FromFormat(gpu ? "gpufreq.gpu%u" : "cpufreq.cpu%u", (unsigned)id);
        if (name == NULL) return FAILED;
        PyObject *item = Py_BuildValue("(NOKd)", name, s_khz, (unsigned long long)ts, (double)state);
        if (item == NULL) return FAILED;
        int rc = PyList_Append(direct, item);
        Py_DECREF(item);
        return rc ? FAILED : OK;
    }
    if (kind == fields[F_EV_THERMAL]) {
        /* thermal/thermal_temperature: `temp` in millidegrees C of the zone named by its type (`gpuss-0`) */
        ptr zone = NULL, zone_end = NULL;
        int32_t temp = 0;
        p = body;
        while (p < body_end) {
            NEXT_FIELD(p, body_end);
            if (number == fields[F_THERMAL_TEMP]) { EXPECT(0); temp = (int32_t)(uint32_t)scalar; }
            else if (number == fields[F_THERMAL_ZONE]) { EXPECT(2); zone = d; zone_end = de; }
        }
        PyObject *z = zone ? text(zone, zone_end) : PyUnicode_New(0, 0);
        if (z == NULL) return PyErr_Occurred() ? FAILED : FALLBACK;
        PyObject *name = PyUnicode_FromFormat("temp.%U", z);
        Py_DECREF(z);
        if (name == NULL) return FAILED;
        PyObject *item = Py_BuildValue("(NOKd)", name, s_celsius, (unsigned long long)ts, temp / 1000.0);
        if (item == NULL) return FAILED;
        int rc = PyList_Append(direct, item);
        Py_DECREF(item);
        return rc ? FAILED : OK;
    }
    return well_formed(body, body_end) ? OK : FALLBACK;
}

static void span(Out *out, uint64_t ts) {
    if (!out->spanned) { out->lo = out->hi = ts; out->spanned = 1; return; }
    if (ts < out->lo) out->lo = ts;
    if (ts > out->hi) out->hi = ts;
}

static int bundle(ptr p, ptr end, Out *out) {
    uint32_t number, cpu = 0;
    int wire, compacts = 0;
    uint64_t scalar = 0;
    ptr d = NULL, de = NULL, start = p, compact = NULL, compact_end = NULL;
    /* cpu may follow the events on the wire: find it (last one wins) before reading them */
    while (p < end) {
        NEXT_FIELD(p, end);
        if (number == fields[F_BUNDLE_CPU]) { EXPECT(0); cpu = (uint32_t)scalar; }
        else if (number == fields[F_BUNDLE_EVENT]) { EXPECT(2); }
        else if (number == fields[F_BUNDLE_COMPACT]) { EXPECT(2); compact = d; compact_end = de; compacts++; }
        else if (wire == 2 && !well_formed(d, de)) return FALLBACK;
    }
    if (compacts > 1) return FALLBACK;
    PyObject *cpu_obj = PyLong_FromUnsignedLong(cpu);
    if (cpu_obj == NULL) return FAILED;
    int rc = OK, any = 0;
    uint64_t ts = 0, first = 0;
    for (p = start; p < end && rc == OK;) {
        if (!field(&p, end, &number, &wire, &scalar, &d, &de)) { rc = FALLBACK; break; }
        if (number != fields[F_BUNDLE_EVENT]) continue;
        rc = ftrace_event(d, de, cpu_obj, out, &ts);
        if (!any) { first = ts; any = 1; }
    }
    if (rc == OK && any) { span(out, first); span(out, ts); }
    if (rc == OK && compact != NULL) {
        PyObject *raw = PyBytes_FromStringAndSize((const char *)compact, compact_end - compact);
        /* summary mode: (where in the sched list it goes, cpu, bytes) */
        PyObject *item = raw == NULL ? NULL : out->scheds
            ? Py_BuildValue("(nON)", PyList_GET_SIZE(out->scheds), cpu_obj, raw) : Py_BuildValue("(ON)", cpu_obj, raw);
        rc = item == NULL ? FAILED : (PyList_Append(out->direct, item) ? FAILED : OK);
        Py_XDECREF(item);
    }
    Py_DECREF(cpu_obj);
    return rc;
}

/* Summary mode: the stage's duration goes to its name's list; the rare cases (a sequence not yet seen or with
   its own clock, a stage iid not interned yet, the legacy stage_id form) go the upb way. */
static int stage_summary(Out *out, uint64_t seq, uint64_t ts, uint64_t duration, PyObject *name,
                         int has_stage_iid, uint64_t stage_iid) {
    int rc = FALLBACK;
    PyObject *key = NULL, *names, *durations, *value = NULL;
    uint64_t end = ts + duration;
    if (end < ts) goto done;   /* past 2**64: Python's ints would not wrap */
    int slot = (int)((seq * 31 + stage_iid) % STAGE_SLOTS), from_iid = 0;
    if (PyUnicode_GET_LENGTH(name) == 0 && has_stage_iid && out->stage_list[slot] != NULL
        && out->stage_seq[slot] == seq && out->stage_iid[slot] == stage_iid) {
        /* a stage seen before in this scan() call, which runs no Python code: its list is still there */
        durations = out->stage_list[slot];
        goto append;
    }
    if (PyUnicode_GET_LENGTH(name) == 0) {
        from_iid = 1;
        if (!has_stage_iid) goto done;
        key = PyLong_FromUnsignedLongLong(seq);
        if (key == NULL) { rc = FAILED; goto done; }
        names = PyDict_GetItemWithError(out->stage_names, key);
        Py_CLEAR(key);
        if (names == NULL) { rc = PyErr_Occurred() ? FAILED : FALLBACK; goto done; }
        key = PyLong_FromUnsignedLongLong(stage_iid);
        if (key == NULL) { rc = FAILED; goto done; }
        PyObject *found = PyDict_GetItemWithError(names, key);
        if (found == NULL || !PyUnicode_Check(found)) { rc = PyErr_Occurred() ? FAILED : FALLBACK; goto done; }
        Py_SETREF(name, Py_NewRef(found));
    } else {
        /* a named stage still needs its sequence known and clock-free, as the Python path would check */
        key = PyLong_FromUnsignedLongLong(seq);
        if (key == NULL) { rc = FAILED; goto done; }
        int known = PyDict_Contains(out->stage_names, key);
        if (known < 0) { rc = FAILED; goto done; }
        if (!known) goto done;
    }
    durations = PyDict_GetItemWithError(out->stage_groups, name);
    if (durations == NULL) {
        if (PyErr_Occurred()) { rc = FAILED; goto done; }
        PyObject *fresh = PyList_New(0);
        if (fresh == NULL || PyDict_SetItem(out->stage_groups, name, fresh)) {
            Py_XDECREF(fresh); rc = FAILED; goto done;
        }
        durations = fresh;
        Py_DECREF(fresh);
    }
    if (from_iid) {
        out->stage_list[slot] = durations;
        out->stage_seq[slot] = seq;
        out->stage_iid[slot] = stage_iid;
    }
append:
    value = PyLong_FromUnsignedLongLong(duration);
    if (value == NULL || PyList_Append(durations, value)) { rc = FAILED; goto done; }
    if (ts) span(out, ts);
    span(out, end);
    rc = OK;
done:
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_DECREF(name);
    return rc;
}

/* (seq, ts, duration, name, stage_iid|None, stage_id, hw_queue_iid|None, hw_queue_id, context, submission_id) */
static int stage(ptr p, ptr end, uint64_t seq, uint64_t ts, Out *out) {
    uint32_t number;
    int wire, has_stage_iid = 0, has_queue_iid = 0;
    uint64_t scalar = 0, duration = 0, stage_iid = 0, queue_iid = 0, context = 0;
    uint32_t submission = 0;
    int32_t stage_id = 0, queue_id = 0;
    ptr d = NULL, de = NULL, name = NULL, name_end = NULL;
    while (p < end) {
        NEXT_FIELD(p, end);
        if (number == fields[F_ST_DURATION]) { EXPECT(0); duration = scalar; }
        else if (number == fields[F_ST_STAGE_IID]) { EXPECT(0); stage_iid = scalar; has_stage_iid = 1; }
        else if (number == fields[F_ST_HWQ_IID]) { EXPECT(0); queue_iid = scalar; has_queue_iid = 1; }
        else if (number == fields[F_ST_CONTEXT]) { EXPECT(0); context = scalar; }
        else if (number == fields[F_ST_SUBMISSION]) { EXPECT(0); submission = (uint32_t)scalar; }
        else if (number == fields[F_ST_STAGE_ID]) { EXPECT(0); stage_id = (int32_t)(uint32_t)scalar; }
        else if (number == fields[F_ST_HWQ_ID]) { EXPECT(0); queue_id = (int32_t)(uint32_t)scalar; }
        else if (number == fields[F_ST_NAME]) { EXPECT(2); name = d; name_end = de; }
        else if (number == fields[F_ST_SPECS]) return FALLBACK;   /* the inline-names form: rare, upb's */
        else if (wire == 2 && !well_formed(d, de)) return FALLBACK;
    }
    PyObject *name_obj = name ? text(name, name_end) : PyUnicode_New(0, 0);
    if (name_obj == NULL) return PyErr_Occurred() ? FAILED : FALLBACK;
    if (out->stage_groups != NULL)
        return stage_summary(out, seq, ts, duration, name_obj, has_stage_iid, stage_iid);
    PyObject *stage_obj = has_stage_iid ? PyLong_FromUnsignedLongLong(stage_iid) : Py_NewRef(Py_None);
    PyObject *queue_obj = has_queue_iid ? PyLong_FromUnsignedLongLong(queue_iid) : Py_NewRef(Py_None);
    if (stage_obj == NULL || queue_obj == NULL) {
        Py_DECREF(name_obj); Py_XDECREF(stage_obj); Py_XDECREF(queue_obj);
        return FAILED;
    }
    PyObject *item = Py_BuildValue("(KKKNNiNiKk)", (unsigned long long)seq, (unsigned long long)ts,
                                   (unsigned long long)duration, name_obj, stage_obj, (int)stage_id, queue_obj,
                                   (int)queue_id, (unsigned long long)context, (unsigned long)submission);
    if (item == NULL) return FAILED;
    int rc = PyList_Append(out->direct, item);
    Py_DECREF(item);
    return rc ? FAILED : OK;
}

static int packet(ptr p, ptr end, Out *out) {
    uint32_t number, kind = 0, seq_flags = 0;
    int wire, kinds = 0, unusual = 0;
    uint64_t scalar = 0, ts = 0, seq = 0;
    ptr d = NULL, de = NULL, body = NULL, body_end = NULL;
    while (p < end) {
        NEXT_FIELD(p, end);
        if (number < packet_oneof_len && packet_oneof[number]) {
            if (++kinds > 1) return FALLBACK;
            EXPECT(2);
            kind = number; body = d; body_end = de;
        }
        else if (number == fields[F_PKT_TIMESTAMP]) { EXPECT(0); ts = scalar; }
        else if (number == fields[F_PKT_SEQ_ID]) { EXPECT(0); seq = (uint32_t)scalar; }
        else if (number == fields[F_PKT_SEQ_FLAGS]) { EXPECT(0); seq_flags = (uint32_t)scalar; }
        else if (number == fields[F_PKT_CLOCK_ID] || number == fields[F_PKT_DEFAULTS]
                 || number == fields[F_PKT_INTERNED]) unusual = 1;
        else if (wire == 2 && !well_formed(d, de)) return FALLBACK;
    }
    if (out == NULL)   /* only asked whether the packet is one of the hot forms at all */
        return kind == fields[F_PKT_FTRACE] || (kind == fields[F_PKT_STAGE] && !unusual && !(seq_flags & 1))
            ? OK : FALLBACK;
    if (kind == fields[F_PKT_FTRACE])
        return bundle(body, body_end, out);
    if (kind == fields[F_PKT_STAGE] && !unusual && !(seq_flags & 1))   /* 1: SEQ_INCREMENTAL_STATE_CLEARED */
        return stage(body, body_end, seq, ts, out);
    return FALLBACK;
}

static void roll_back(Out *out) {
    PyList_SetSlice(out->prints, out->added_prints, PyList_GET_SIZE(out->prints), NULL);
    PyList_SetSlice(out->direct, out->added_direct, PyList_GET_SIZE(out->direct), NULL);
    if (out->scheds) PyList_SetSlice(out->scheds, out->added_scheds, PyList_GET_SIZE(out->scheds), NULL);
}

/* scan(buf, pos, end, prints, direct[, stage_names, stage_groups, scheds]) -> (stop, fallback_end, packets, lo, hi)
   Walks Trace records from pos; stops at `end` (fallback_end == -1) or at a packet record that needs the upb
   path (it spans [stop, fallback_end)). packets counts the packets handled here; span is None-ed when empty. */
static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, end;
    Out out = {0};
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "_fastscan.configure() was not called");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*nnO!O!|O!O!O!", &view, &pos, &end, &PyList_Type, &out.prints, &PyList_Type,
                          &out.direct, &PyDict_Type, &out.stage_names, &PyDict_Type, &out.stage_groups,
                          &PyList_Type, &out.scheds))
        return NULL;
    if ((out.stage_names == NULL) != (out.stage_groups == NULL) || (out.scheds == NULL) != (out.stage_names == NULL)) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_TypeError, "stage_names, stage_groups and scheds go together");
        return NULL;
    }
    if (pos < 0 || end > view.len || pos > end) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "scan range outside the buffer");
        return NULL;
    }
    ptr base = (ptr)view.buf, p = base + pos, stop = base + end, fallback_end = NULL;
    Py_ssize_t packets = 0;
    while (p < stop) {
        ptr record = p, d = NULL, de = NULL;
        uint32_t number;
        int wire;
        uint64_t scalar;
        if (!field(&p, stop, &number, &wire, &scalar, &d, &de)) { p = record; fallback_end = stop; break; }
        if (number != 1 || wire != 2) continue;   /* not a TracePacket: nothing to read, as upb reads it */
        out.added_prints = PyList_GET_SIZE(out.prints);
        out.added_direct = PyList_GET_SIZE(out.direct);
        out.added_scheds = out.scheds ? PyList_GET_SIZE(out.scheds) : 0;
        uint64_t lo = out.lo, hi = out.hi;
        int spanned = out.spanned;
        int rc = packet(d, de, &out);
        if (rc == FAILED) { PyBuffer_Release(&view); return NULL; }
        if (rc == FALLBACK) {
            roll_back(&out);
            out.lo = lo; out.hi = hi; out.spanned = spanned;
            p = record;
            fallback_end = de;
            /* hand back the whole run of packets that are plainly not hot (a track_event trace is mostly
               such runs), so Python decodes them as one batch instead of one call each */
            for (ptr q = de; q < stop;) {
                if (!field(&q, stop, &number, &wire, &scalar, &d, &de)) break;
                if (number == 1 && wire == 2 && packet(d, de, NULL) != FALLBACK) break;
                fallback_end = q;
            }
            break;
        }
        packets++;
    }
    Py_ssize_t stop_at = p - base, fb = fallback_end ? fallback_end - base : -1;
    PyBuffer_Release(&view);
    if (out.spanned)
        return Py_BuildValue("(nnnKK)", stop_at, fb, packets, (unsigned long long)out.lo,
                             (unsigned long long)out.hi);
    return Py_BuildValue("(nnnOO)", stop_at, fb, packets, Py_None, Py_None);
}

static int append_to_group(PyObject *groups, PyObject *name, PyObject *value) {
    PyObject *list = PyDict_GetItemWithError(groups, name);
    if (list == NULL) {
        if (PyErr_Occurred()) return -1;
        list = PyList_New(0);
        if (list == NULL || PyDict_SetItem(groups, name, list)) { Py_XDECREF(list); return -1; }
        Py_DECREF(list);
    }
    return PyList_Append(list, value);
}

/* release(ready, i, stacks, lines, end_marker, groups) -> index of the first print it leaves to Python
   ready: [(ts, tid, buf)] in time order; stacks: {tid: [(name, ts, pid)]}; lines: the reader's cache of parsed
   lines {buf: end_marker | (name, pid)}. Begin lines push, end lines pop and put the duration into groups
   {name: [dur]}; a line not in the cache or an end with nothing open stops it (Python handles that print). */
static PyObject *release(PyObject *self, PyObject *args) {
    PyObject *ready, *stacks, *lines, *end_marker, *groups;
    Py_ssize_t i;
    if (!PyArg_ParseTuple(args, "O!nO!O!OO!", &PyList_Type, &ready, &i, &PyDict_Type, &stacks, &PyDict_Type, &lines,
                          &end_marker, &PyDict_Type, &groups))
        return NULL;
    for (; i < PyList_GET_SIZE(ready); i++) {
        PyObject *item = PyList_GET_ITEM(ready, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 3) break;
        PyObject *ts = PyTuple_GET_ITEM(item, 0), *tid = PyTuple_GET_ITEM(item, 1);
        PyObject *line = PyDict_GetItemWithError(lines, PyTuple_GET_ITEM(item, 2));
        if (line == NULL) {
            if (PyErr_Occurred()) return NULL;
            break;
        }
        PyObject *stack = PyDict_GetItemWithError(stacks, tid);
        if (stack == NULL && PyErr_Occurred()) return NULL;
        if (line == end_marker) {
            if (stack == NULL || !PyList_Check(stack) || PyList_GET_SIZE(stack) == 0) break;
            Py_ssize_t top = PyList_GET_SIZE(stack) - 1;
            PyObject *open = PyList_GET_ITEM(stack, top);
            if (!PyTuple_Check(open) || PyTuple_GET_SIZE(open) != 3) break;
            Py_INCREF(open);
            if (PyList_SetSlice(stack, top, top + 1, NULL)) { Py_DECREF(open); return NULL; }
            PyObject *dur = PyNumber_Subtract(ts, PyTuple_GET_ITEM(open, 1));
            int rc = dur == NULL ? -1 : append_to_group(groups, PyTuple_GET_ITEM(open, 0), dur);
            Py_XDECREF(dur);
            Py_DECREF(open);
            if (rc) return NULL;
        } else {
            if (!PyTuple_Check(line) || PyTuple_GET_SIZE(line) != 2) break;
            if (stack == NULL) {
                stack = PyList_New(0);
                if (stack == NULL || PyDict_SetItem(stacks, tid, stack)) { Py_XDECREF(stack); return NULL; }
                Py_DECREF(stack);
            } else if (!PyList_Check(stack)) break;
            PyObject *open = PyTuple_Pack(3, PyTuple_GET_ITEM(line, 0), ts, PyTuple_GET_ITEM(line, 1));
            if (open != NULL && PyUnicode_CheckExact(PyTuple_GET_ITEM(line, 0)) && PyLong_CheckExact(ts)
                && (PyTuple_GET_ITEM(line, 1) == Py_None || PyLong_CheckExact(PyTuple_GET_ITEM(line, 1))))
                PyObject_GC_UnTrack(open);   /* atoms only: no cycle possible */
            int rc = open == NULL ? -1 : PyList_Append(stack, open);
            Py_XDECREF(open);
            if (rc) return NULL;
        }
    }
    return PyLong_FromSsize_t(i);
}

/* sorted_by_ts(prints) -> whether the (ts, ...) tuples are already in time order (the usual case: one CPU's
   prints arrive in order), so the reader can skip sorting them with a Python key function. */
static PyObject *sorted_by_ts(PyObject *self, PyObject *list) {
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "expected a list");
        return NULL;
    }
    for (Py_ssize_t i = 1; i < PyList_GET_SIZE(list); i++) {
        PyObject *a = PyList_GET_ITEM(list, i - 1), *b = PyList_GET_ITEM(list, i);
        if (!PyTuple_Check(a) || !PyTuple_Check(b) || PyTuple_GET_SIZE(a) < 1 || PyTuple_GET_SIZE(b) < 1)
            Py_RETURN_FALSE;
        int later = PyObject_RichCompareBool(PyTuple_GET_ITEM(a, 0), PyTuple_GET_ITEM(b, 0), Py_GT);
        if (later < 0) return NULL;
        if (later) Py_RETURN_FALSE;
    }
    Py_RETURN_TRUE;
}

/* records(buf, pos) -> (stop, first, last, count): the run of plain TracePacket records (tag 0x0A, whole in
   buf) from pos, as framing's Python scanner would step over them; it stops at anything else for that one. */
static PyObject *records(PyObject *self, PyObject *args) {
    Py_buffer view;
    Py_ssize_t pos, first = -1, last = -1, count = 0;
    if (!PyArg_ParseTuple(args, "y*n", &view, &pos))
        return NULL;
    ptr base = (ptr)view.buf, end = base + view.len, p = base + (pos < 0 ? 0 : pos < view.len ? pos : view.len);
    while (p < end && *p == 0x0A) {
        ptr q = p + 1;
        uint64_t length;
        if (!varint(&q, end, &length) || length > (uint64_t)(end - q)) break;
        if (first < 0) first = p - base;
        p = q + length;
        last = p - base;
        count++;
    }
    Py_ssize_t stop = p - base;
    PyBuffer_Release(&view);
    return Py_BuildValue("(nnnn)", stop, first, last, count);
}

/* sched_fold(switches, on_cpu, running): SummaryBuilder.sched_switches' loop (the Python one is the reference;
   tests compare the two): switches [(cpu, ts, prev, next, comm)], on_cpu {cpu: (since, tid)},
   running {tid: [comm, switches_in, running_ns]}. */
static PyObject *sched_fold(PyObject *self, PyObject *args) {
    PyObject *switches, *on_cpu, *running;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyList_Type, &switches, &PyDict_Type, &on_cpu, &PyDict_Type, &running))
        return NULL;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(switches); i++) {
        PyObject *item = PyList_GET_ITEM(switches, i);
        if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 5) {
            PyErr_SetString(PyExc_TypeError, "a sched switch is (cpu, ts, prev, next, comm)");
            return NULL;
        }
        PyObject *cpu = PyTuple_GET_ITEM(item, 0), *ts = PyTuple_GET_ITEM(item, 1);
        PyObject *next = PyTuple_GET_ITEM(item, 3), *comm = PyTuple_GET_ITEM(item, 4);
        PyObject *previous = PyDict_GetItemWithError(on_cpu, cpu);
        if (previous == NULL && PyErr_Occurred()) return NULL;
        if (previous != NULL) {
            if (!PyTuple_Check(previous) || PyTuple_GET_SIZE(previous) != 2) {
                PyErr_SetString(PyExc_TypeError, "on_cpu values are (since, tid)");
                return NULL;
            }
            PyObject *entry = PyDict_GetItemWithError(running, PyTuple_GET_ITEM(previous, 1));
            if (entry == NULL && PyErr_Occurred()) return NULL;
            if (entry != NULL) {
                if (!PyList_Check(entry) || PyList_GET_SIZE(entry) != 3) {
                    PyErr_SetString(PyExc_TypeError, "running values are [comm, switches_in, running_ns]");
                    return NULL;
                }
                PyObject *ran = PyNumber_Subtract(ts, PyTuple_GET_ITEM(previous, 0));
                PyObject *total = ran ? PyNumber_Add(PyList_GET_ITEM(entry, 2), ran) : NULL;
                Py_XDECREF(ran);
                if (total == NULL) return NULL;
                PyList_SetItem(entry, 2, total);
            }
        }
        PyObject *entry = PyDict_GetItemWithError(running, next);
        if (entry == NULL) {
            if (PyErr_Occurred()) return NULL;
            entry = Py_BuildValue("[Oii]", comm, 0, 0);
            if (entry == NULL || PyDict_SetItem(running, next, entry)) { Py_XDECREF(entry); return NULL; }
            Py_DECREF(entry);
        } else if (!PyList_Check(entry) || PyList_GET_SIZE(entry) != 3) {
            PyErr_SetString(PyExc_TypeError, "running values are [comm, switches_in, running_ns]");
            return NULL;
        }
        PyList_SetItem(entry, 0, Py_NewRef(comm));
        PyObject *one = PyLong_FromLong(1);
        PyObject *count = one ? PyNumber_Add(PyList_GET_ITEM(entry, 1), one) : NULL;
        Py_XDECREF(one);
        if (count == NULL) return NULL;
        PyList_SetItem(entry, 1, count);
        PyObject *since = PyTuple_Pack(2, ts, next);
        if (since == NULL || PyDict_SetItem(on_cpu, cpu, since)) { Py_XDECREF(since); return NULL; }
        Py_DECREF(since);
    }
    Py_RETURN_NONE;
}

static int bitmap(PyObject *numbers, unsigned char **map, Py_ssize_t *len) {
    Py_ssize_t n = PyTuple_GET_SIZE(numbers), top = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(numbers, i));
        if (v < 1 || v > (1 << 29)) { if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad field"); return -1; }
        if (v + 1 > top) top = v + 1;
    }
    unsigned char *m = PyMem_Calloc(top ? top : 1, 1);
    if (m == NULL) { PyErr_NoMemory(); return -1; }
    for (Py_ssize_t i = 0; i < n; i++) m[PyLong_AsLong(PyTuple_GET_ITEM(numbers, i))] = 1;
    PyMem_Free(*map);
    *map = m;
    *len = top;
    return 0;
}

/* configure(field_numbers, packet_oneof_numbers, event_oneof_numbers): tuples of ints, in the enum's order */
static PyObject *configure(PyObject *self, PyObject *args) {
    PyObject *numbers, *packet_members, *event_members;
    if (!PyArg_ParseTuple(args, "O!O!O!", &PyTuple_Type, &numbers, &PyTuple_Type, &packet_members, &PyTuple_Type,
                          &event_members))
        return NULL;
    if (PyTuple_GET_SIZE(numbers) != N_FIELDS)
        return PyErr_Format(PyExc_ValueError, "expected %d field numbers", N_FIELDS);
    for (int i = 0; i < N_FIELDS; i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(numbers, i));
        if (v < 1 || v > (1 << 29)) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "field number out of range");
            return NULL;
        }
        fields[i] = (uint32_t)v;
    }
    if (bitmap(packet_members, &packet_oneof, &packet_oneof_len) || bitmap(event_members, &event_oneof,
                                                                             &event_oneof_len))
        return NULL;
    configured = 1;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "scan(buf, pos, end, prints, direct) -> (stop, fallback_end, packets, lo, hi)"},
    {"release", release, METH_VARARGS, "release(ready, i, stacks, lines, end_marker, groups) -> stop index"},
    {"sorted_by_ts", sorted_by_ts, METH_O, "sorted_by_ts(prints) -> whether already in time order"},
    {"records", records, METH_VARARGS, "records(buf, pos) -> (stop, first, last, count)"},
    {"sched_fold", sched_fold, METH_VARARGS, "sched_fold(switches, on_cpu, running)"},
    {"configure", configure, METH_VARARGS, "configure(field_numbers, packet_oneof, event_oneof)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_fastscan", "Hot-packet scanner for Perfetto traces",
                                    -1, methods};

PyMODINIT_FUNC PyInit__fastscan(void) {
    s_khz = PyUnicode_InternFromString("kHz");
    s_gpufreq = PyUnicode_InternFromString("gpufreq");
    s_celsius = PyUnicode_InternFromString("\u00b0C");
    if (s_khz == NULL || s_gpufreq == NULL || s_celsius == NULL) return NULL;
    return PyModule_Create(&module);
}
