/* SPDX-License-Identifier: GPL-2.0-only OR MIT */
/*
 * The ioctl ABI of the vtty control device /dev/vtty and of attach files.
 * src/abi.rs is the same ABI in Rust; a host test checks that both agree.
 */
#ifndef _UAPI_VTTY_ABI_H
#define _UAPI_VTTY_ABI_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stdint.h>
typedef uint16_t __u16;
typedef uint32_t __u32;
typedef uint64_t __u64;
typedef int32_t __s32;
typedef uint8_t __u8;
#endif
#include <linux/ioctl.h>

#define VTTY_TERMINALS 12
#define VTTY_NAME_LEN 64
#define VTTY_INDEX_ALL 0xffffffffU
#define VTTY_STALL_TIMEOUT_DEFAULT_MS 2000

#define VTTY_ATTACH_TAKEOVER (1U << 0)
#define VTTY_ATTACH_STALL_TIMEOUT (1U << 1)
#define VTTY_ATTACH_FLAGS_ALL (VTTY_ATTACH_TAKEOVER | VTTY_ATTACH_STALL_TIMEOUT)

#define VTTY_STATE_REGISTERED 1
#define VTTY_STATE_FENCED 2

#define VTTY_TERM_INSTALLED (1U << 0)
#define VTTY_TERM_ATTACHED (1U << 1)
#define VTTY_TERM_STALLED (1U << 2)

struct vtty_register {
	__s32 pidfd;		/* in: pidfd of the container's init */
	__u32 flags;		/* in: 0 */
	__u64 nsid;		/* out: ns_id of the pid namespace */
	__u8 name[VTTY_NAME_LEN]; /* in: NUL-terminated ctid */
};

struct vtty_container {
	__u64 nsid;
};

struct vtty_attach {
	__u64 nsid;
	__u32 index;
	__u32 flags;		/* VTTY_ATTACH_* */
	__u32 stall_timeout_ms;	/* with VTTY_ATTACH_STALL_TIMEOUT */
	__u32 reserved;		/* 0 */
};

struct vtty_hangup {
	__u64 nsid;
	__u32 index;		/* or VTTY_INDEX_ALL */
	__u32 reserved;		/* 0 */
};

struct vtty_terminal_info {
	__u32 flags;		/* VTTY_TERM_* */
	__u32 open_count;
	__u64 written;
	__u64 delivered;
	__u64 dropped;
	__u64 input_dropped;
};

struct vtty_container_info {
	__u64 nsid;
	__s32 init_pid;
	__u32 state;		/* VTTY_STATE_* */
	__u8 name[VTTY_NAME_LEN];
	struct vtty_terminal_info terminals[VTTY_TERMINALS];
};

struct vtty_list {
	__u64 entries;		/* in: user pointer to vtty_container_info[] */
	__u32 capacity;		/* in */
	__u32 count;		/* out: containers known to the driver */
};

struct vtty_winsize {
	__u16 rows;
	__u16 cols;
	__u16 xpixel;
	__u16 ypixel;
};

#define VTTY_IOC_MAGIC 0xb7
#define VTTY_IOC_REGISTER _IOWR(VTTY_IOC_MAGIC, 1, struct vtty_register)
#define VTTY_IOC_UNREGISTER _IOW(VTTY_IOC_MAGIC, 2, struct vtty_container)
#define VTTY_IOC_ATTACH _IOW(VTTY_IOC_MAGIC, 3, struct vtty_attach)
#define VTTY_IOC_HANGUP _IOW(VTTY_IOC_MAGIC, 4, struct vtty_hangup)
#define VTTY_IOC_LIST _IOWR(VTTY_IOC_MAGIC, 5, struct vtty_list)
#define VTTY_ATTACH_IOC_SETWINSZ _IOW(VTTY_IOC_MAGIC, 16, struct vtty_winsize)

#endif /* _UAPI_VTTY_ABI_H */
