/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Tracepoints of the vtty driver, the stable interface of its eBPF probes.
 *
 * Every event starts with the same two fields, nsid (the pid namespace's ns_id)
 * and index (the terminal, or VTTY_INDEX_ALL for container events), and a field
 * that several events share sits at the same offset in each, so that a probe can
 * use one table of offsets for all of them.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM vtty
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE vtty_trace

#if !defined(_VTTY_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _VTTY_TRACE_H

#include <linux/tracepoint.h>

/* Reasons of vtty_unregister. */
#define VTTY_UNREGISTER_IOCTL 0		/* VTTY_IOC_UNREGISTER */
#define VTTY_UNREGISTER_EXITED 1	/* the container's init exited */

/* Reasons of vtty_detach. */
#define VTTY_DETACH_CLOSED 0		/* the attacher closed its file */
#define VTTY_DETACH_TAKEOVER 1		/* another attacher took over */
#define VTTY_DETACH_ENDED 2		/* terminal hung up or container ended */

TRACE_EVENT(vtty_register,
	TP_PROTO(u64 nsid, s32 init_pid, const char *name),
	TP_ARGS(nsid, init_pid, name),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
		__field(s32, init_pid)
		__array(char, name, 64)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = 0xffffffffU;
		__entry->init_pid = init_pid;
		strscpy(__entry->name, name, sizeof(__entry->name));
	),
	TP_printk("nsid=%llu init_pid=%d name=%s",
		  __entry->nsid, __entry->init_pid, __entry->name)
);

DECLARE_EVENT_CLASS(vtty_reason_class,
	TP_PROTO(u64 nsid, u32 index, u32 reason),
	TP_ARGS(nsid, index, reason),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
		__field(u32, reason)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = index;
		__entry->reason = reason;
	),
	TP_printk("nsid=%llu index=%u reason=%u",
		  __entry->nsid, __entry->index, __entry->reason)
);

DEFINE_EVENT(vtty_reason_class, vtty_unregister,
	TP_PROTO(u64 nsid, u32 index, u32 reason),
	TP_ARGS(nsid, index, reason));

DEFINE_EVENT(vtty_reason_class, vtty_detach,
	TP_PROTO(u64 nsid, u32 index, u32 reason),
	TP_ARGS(nsid, index, reason));

TRACE_EVENT(vtty_install,
	TP_PROTO(u64 nsid, u32 index),
	TP_ARGS(nsid, index),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = index;
	),
	TP_printk("nsid=%llu index=%u", __entry->nsid, __entry->index)
);

DECLARE_EVENT_CLASS(vtty_count_class,
	TP_PROTO(u64 nsid, u32 index, s32 count),
	TP_ARGS(nsid, index, count),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
		__field(s32, count)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = index;
		__entry->count = count;
	),
	TP_printk("nsid=%llu index=%u count=%d",
		  __entry->nsid, __entry->index, __entry->count)
);

/* count is tty->count after the open or close. */
DEFINE_EVENT(vtty_count_class, vtty_open,
	TP_PROTO(u64 nsid, u32 index, s32 count),
	TP_ARGS(nsid, index, count));

DEFINE_EVENT(vtty_count_class, vtty_close,
	TP_PROTO(u64 nsid, u32 index, s32 count),
	TP_ARGS(nsid, index, count));

TRACE_EVENT(vtty_attach,
	TP_PROTO(u64 nsid, u32 index, u32 flags),
	TP_ARGS(nsid, index, flags),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
		__field(u32, flags)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = index;
		__entry->flags = flags;
	),
	TP_printk("nsid=%llu index=%u flags=%#x",
		  __entry->nsid, __entry->index, __entry->flags)
);

/*
 * One call of the driver's write: offered bytes reached the driver (after the line
 * discipline's output processing), delivered went to the attacher's buffer,
 * dropped were counted and discarded. offered == delivered + dropped.
 */
TRACE_EVENT(vtty_write,
	TP_PROTO(u64 nsid, u32 index, u32 offered, u32 delivered, u32 dropped),
	TP_ARGS(nsid, index, offered, delivered, dropped),
	TP_STRUCT__entry(
		__field(u64, nsid)
		__field(u32, index)
		__field(u32, offered)
		__field(u32, delivered)
		__field(u32, dropped)
	),
	TP_fast_assign(
		__entry->nsid = nsid;
		__entry->index = index;
		__entry->offered = offered;
		__entry->delivered = delivered;
		__entry->dropped = dropped;
	),
	TP_printk("nsid=%llu index=%u offered=%u delivered=%u dropped=%u",
		  __entry->nsid, __entry->index, __entry->offered,
		  __entry->delivered, __entry->dropped)
);

#endif /* _VTTY_TRACE_H */

#include <trace/define_trace.h>
