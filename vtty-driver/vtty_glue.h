/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The C side of the vtty driver: operation tables, tracepoints, timers, wait
 * queues and the static inline parts of the kernel API. It holds no policy: every
 * decision is made by the Rust side, through the vtty_rs_* callbacks below.
 */
#ifndef _VTTY_GLUE_H
#define _VTTY_GLUE_H

#include <linux/types.h>

struct file;
struct pid;
struct pid_namespace;
struct seq_file;
struct tty_driver;
struct tty_port;
struct tty_struct;
struct workqueue_struct;
struct vtty_port;
struct vtty_watch;

/* Tracepoints (vtty_trace.h), callable from Rust. */
void vtty_trace_register(u64 nsid, s32 init_pid, const char *name);
void vtty_trace_unregister(u64 nsid, u32 reason);
void vtty_trace_install(u64 nsid, u32 index);
void vtty_trace_open(u64 nsid, u32 index, s32 count);
void vtty_trace_close(u64 nsid, u32 index, s32 count);
void vtty_trace_write(u64 nsid, u32 index, u32 offered, u32 delivered, u32 dropped);
void vtty_trace_attach(u64 nsid, u32 index, u32 flags);
void vtty_trace_detach(u64 nsid, u32 index, u32 reason);

/* The tty driver and the provider hook. */
struct tty_driver *vtty_driver_create(unsigned int lines);
void vtty_driver_destroy(struct tty_driver *driver);
int vtty_provider_register(void);
void vtty_provider_unregister(void);
int vtty_tty_install(struct tty_driver *driver, struct tty_struct *tty,
		     struct tty_port *port, void *driver_data, u16 rows, u16 cols);

/* A terminal's port, with its stall timer and the attacher's wait queues. */
struct vtty_port *vtty_port_create(void *terminal);
void vtty_port_set_terminal(struct vtty_port *vp, void *terminal);
void vtty_port_release(struct vtty_port *vp);
struct tty_port *vtty_port_tty_port(struct vtty_port *vp);
void vtty_port_arm_stall_timer(struct vtty_port *vp, unsigned int msecs);
void vtty_port_wake_reader(struct vtty_port *vp);
void vtty_port_wake_input(struct vtty_port *vp);

/* Pid namespaces and the watch on a container's init. */
int vtty_pidfd_resolve(int pidfd, struct pid **pid, struct pid_namespace **ns,
		       s32 *host_pid);
void vtty_put_pid(struct pid *pid);
void vtty_put_pid_ns(struct pid_namespace *ns);
u64 vtty_pid_ns_id(const struct pid_namespace *ns);
struct pid_namespace *vtty_pid_ns_parent(const struct pid_namespace *ns);
struct pid_namespace *vtty_current_pid_ns(void);
bool vtty_current_in_init_pid_ns(void);
bool vtty_current_capable_sys_admin(void);
bool vtty_pid_ns_dead(const struct pid_namespace *ns);
struct vtty_watch *vtty_watch_create(struct pid *pid, void *container);
void vtty_watch_destroy(struct vtty_watch *watch);

/* The module's own workqueue, drained on unload. */
struct workqueue_struct *vtty_wq_create(void);
void vtty_wq_destroy(struct workqueue_struct *wq);

/* Attach files. */
int vtty_attach_fd_create(void *attachment, struct vtty_port *vp, bool *owned);

/* debugfs. */
void vtty_debugfs_create(void);
void vtty_debugfs_remove(void);

/* Module references held by registrations and fences. */
bool vtty_module_get(void);
void vtty_module_put(void);

/* Callbacks implemented in Rust. The void pointers are the Rust objects. */
int vtty_rs_provider_lookup(dev_t device, int *index);
struct tty_struct *vtty_rs_lookup(int index);
int vtty_rs_install(struct tty_driver *driver, struct tty_struct *tty);
void vtty_rs_remove(struct tty_struct *tty);
void vtty_rs_cleanup(void *terminal);
void vtty_rs_open(void *terminal, struct tty_struct *tty);
void vtty_rs_close(void *terminal, struct tty_struct *tty);
void vtty_rs_hangup(void *terminal);
ssize_t vtty_rs_write(void *terminal, const u8 *buf, size_t count);
unsigned int vtty_rs_write_room(void *terminal);
void vtty_rs_stall_expired(void *terminal);
void vtty_rs_init_woken(void *container);
ssize_t vtty_rs_attach_take(void *attachment, u8 *buf, size_t count);
bool vtty_rs_attach_readable(void *attachment);
ssize_t vtty_rs_attach_input(void *attachment, const u8 *buf, size_t count, bool force_drop);
bool vtty_rs_attach_input_ready(void *attachment);
unsigned int vtty_rs_attach_stall_timeout_ms(void *attachment);
int vtty_rs_attach_resize(void *attachment, u16 rows, u16 cols);
int vtty_rs_attach_commit(void *attachment);
void vtty_rs_attach_release(void *attachment);
void vtty_rs_debugfs_show(struct seq_file *m);

#endif /* _VTTY_GLUE_H */
