// SPDX-License-Identifier: GPL-2.0
/*
 * The C side of the vtty driver: operation tables, tracepoints, timers, wait
 * queues and the static inline parts of the kernel API. Every decision is made
 * by the Rust side through the vtty_rs_* callbacks declared in vtty_glue.h.
 */

#include <linux/anon_inodes.h>
#include <linux/capability.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/timer.h>
#include <linux/tty.h>
#include <linux/tty_driver.h>
#include <linux/tty_flip.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "vtty_abi.h"
#include "vtty_glue.h"

#define CREATE_TRACE_POINTS
#include "vtty_trace.h"

/* Container input the flip buffer may hold before the attacher waits. */
#define VTTY_INPUT_LIMIT 8192
/* How often a blocked attacher re-checks the container's input room. */
#define VTTY_INPUT_POLL_MS 20
/* Largest chunk an attach file copies in one step. */
#define VTTY_ATTACH_CHUNK 4096

static struct tty_driver *vtty_driver;
static struct workqueue_struct *vtty_wq;
static struct dentry *vtty_debugfs_dir;

/* ---- tracepoints ---- */

void vtty_trace_register(u64 nsid, s32 init_pid, const char *name)
{
	trace_vtty_register(nsid, init_pid, name);
}

void vtty_trace_unregister(u64 nsid, u32 reason)
{
	trace_vtty_unregister(nsid, VTTY_INDEX_ALL, reason);
}

void vtty_trace_install(u64 nsid, u32 index)
{
	trace_vtty_install(nsid, index);
}

void vtty_trace_open(u64 nsid, u32 index, s32 count)
{
	trace_vtty_open(nsid, index, count);
}

void vtty_trace_close(u64 nsid, u32 index, s32 count)
{
	trace_vtty_close(nsid, index, count);
}

void vtty_trace_write(u64 nsid, u32 index, u32 offered, u32 delivered, u32 dropped)
{
	trace_vtty_write(nsid, index, offered, delivered, dropped);
}

void vtty_trace_attach(u64 nsid, u32 index, u32 flags)
{
	trace_vtty_attach(nsid, index, flags);
}

void vtty_trace_detach(u64 nsid, u32 index, u32 reason)
{
	trace_vtty_detach(nsid, index, reason);
}

/* ---- ports ---- */

struct vtty_port {
	struct tty_port port;		/* first: the default port destructor kfree()s it */
	struct timer_list stall_timer;
	wait_queue_head_t read_wait;	/* attacher waiting for output */
	wait_queue_head_t input_wait;	/* attacher waiting for input room */
	void *terminal;			/* the Rust terminal, NULL once released */
};

static const struct tty_port_operations vtty_port_ops = {};

static void vtty_stall_timer_fn(struct timer_list *t)
{
	struct vtty_port *vp = timer_container_of(vp, t, stall_timer);

	vtty_rs_stall_expired(vp->terminal);
}

struct vtty_port *vtty_port_create(void *terminal)
{
	struct vtty_port *vp = kzalloc(sizeof(*vp), GFP_KERNEL);

	if (!vp)
		return NULL;
	tty_port_init(&vp->port);
	vp->port.ops = &vtty_port_ops;
	tty_buffer_set_limit(&vp->port, VTTY_INPUT_LIMIT);
	timer_setup(&vp->stall_timer, vtty_stall_timer_fn, 0);
	init_waitqueue_head(&vp->read_wait);
	init_waitqueue_head(&vp->input_wait);
	vp->terminal = terminal;
	return vp;
}

void vtty_port_set_terminal(struct vtty_port *vp, void *terminal)
{
	vp->terminal = terminal;
}

/* Stops the timer for good and drops the terminal's reference on the port. */
void vtty_port_release(struct vtty_port *vp)
{
	timer_shutdown_sync(&vp->stall_timer);
	vp->terminal = NULL;
	tty_port_put(&vp->port);
}

struct tty_port *vtty_port_tty_port(struct vtty_port *vp)
{
	return &vp->port;
}

void vtty_port_arm_stall_timer(struct vtty_port *vp, unsigned int msecs)
{
	mod_timer(&vp->stall_timer, jiffies + msecs_to_jiffies(msecs));
}

void vtty_port_wake_reader(struct vtty_port *vp)
{
	wake_up_interruptible_poll(&vp->read_wait, EPOLLIN | EPOLLRDNORM);
}

void vtty_port_wake_input(struct vtty_port *vp)
{
	wake_up_interruptible_poll(&vp->input_wait, EPOLLOUT | EPOLLWRNORM);
}

/* ---- the tty driver ---- */

static struct tty_struct *vtty_lookup(struct tty_driver *driver, struct file *file, int idx)
{
	return vtty_rs_lookup(idx);
}

static int vtty_install(struct tty_driver *driver, struct tty_struct *tty)
{
	return vtty_rs_install(driver, tty);
}

static void vtty_remove(struct tty_driver *driver, struct tty_struct *tty)
{
	vtty_rs_remove(tty);
}

static int vtty_open(struct tty_struct *tty, struct file *filp)
{
	tty_port_tty_set(tty->port, tty);
	vtty_rs_open(tty->driver_data, tty);
	return 0;
}

static void vtty_close(struct tty_struct *tty, struct file *filp)
{
	/* tty->count drops after ->close; 1 means this is the last file. */
	if (tty->count <= 1)
		tty_port_tty_set(tty->port, NULL);
	vtty_rs_close(tty->driver_data, tty);
}

static void vtty_cleanup(struct tty_struct *tty)
{
	void *terminal = tty->driver_data;

	tty->driver_data = NULL;
	tty_port_put(tty->port);
	vtty_rs_cleanup(terminal);
}

static ssize_t vtty_write(struct tty_struct *tty, const u8 *buf, size_t count)
{
	return vtty_rs_write(tty->driver_data, buf, count);
}

static unsigned int vtty_write_room(struct tty_struct *tty)
{
	return vtty_rs_write_room(tty->driver_data);
}

static void vtty_hangup(struct tty_struct *tty)
{
	vtty_rs_hangup(tty->driver_data);
}

static void vtty_unthrottle(struct tty_struct *tty)
{
	vtty_port_wake_input(container_of(tty->port, struct vtty_port, port));
}

static const struct tty_operations vtty_ops = {
	.lookup = vtty_lookup,
	.install = vtty_install,
	.remove = vtty_remove,
	.open = vtty_open,
	.close = vtty_close,
	.cleanup = vtty_cleanup,
	.write = vtty_write,
	.write_room = vtty_write_room,
	.hangup = vtty_hangup,
	.unthrottle = vtty_unthrottle,
};

struct tty_driver *vtty_driver_create(unsigned int lines)
{
	struct tty_driver *driver;
	int err;

	driver = tty_alloc_driver(lines, TTY_DRIVER_RESET_TERMIOS | TTY_DRIVER_REAL_RAW |
				  TTY_DRIVER_DEVPTS_MEM | TTY_DRIVER_NO_REDIRECT);
	if (IS_ERR(driver))
		return driver;
	driver->driver_name = "vtty";
	driver->name = "vttys";
	driver->major = 0;
	driver->type = TTY_DRIVER_TYPE_SYSTEM;
	driver->subtype = SYSTEM_TYPE_CONSOLE;
	driver->init_termios = tty_std_termios;
	tty_set_operations(driver, &vtty_ops);
	err = tty_register_driver(driver);
	if (err) {
		tty_driver_kref_put(driver);
		return ERR_PTR(err);
	}
	vtty_driver = driver;
	return driver;
}

void vtty_driver_destroy(struct tty_driver *driver)
{
	tty_unregister_driver(driver);
	tty_driver_kref_put(driver);
	vtty_driver = NULL;
}

static struct tty_driver *vtty_provider_lookup(dev_t device, struct file *filp, int *index)
{
	int idx = 0;
	int ret = vtty_rs_provider_lookup(device, &idx);

	if (ret > 0)
		return NULL;
	if (ret < 0)
		return ERR_PTR(ret);
	*index = idx;
	return tty_driver_kref_get(vtty_driver);
}

static const struct tty_provider vtty_provider = {
	.lookup = vtty_provider_lookup,
};

int vtty_provider_register(void)
{
	return tty_provider_register(&vtty_provider);
}

void vtty_provider_unregister(void)
{
	tty_provider_unregister(&vtty_provider);
}

/*
 * What tty_standard_install() does, without the driver's ttys[] table, which a
 * TTY_DRIVER_DEVPTS_MEM driver does not have. Runs under tty_mutex.
 */
int vtty_tty_install(struct tty_driver *driver, struct tty_struct *tty,
		     struct tty_port *port, void *driver_data, u16 rows, u16 cols)
{
	tty_init_termios(tty);
	tty_driver_kref_get(driver);
	tty->count++;
	tty->port = tty_port_get(port);
	tty->driver_data = driver_data;
	if (rows && cols) {
		tty->winsize.ws_row = rows;
		tty->winsize.ws_col = cols;
	}
	return 0;
}



/* ---- pid namespaces ---- */

/*
 * Resolves a pidfd of a container's init. Returns with references on *pid and *ns.
 * -EBADF: not a pidfd; -ESRCH: the task exited or its namespace is dying;
 * -EINVAL: the task is in the initial pid namespace or is not pid 1 of its
 * namespace.
 */
int vtty_pidfd_resolve(int pidfd, struct pid **pid, struct pid_namespace **ns,
		       s32 *host_pid)
{
	CLASS(fd, f)(pidfd);
	struct pid *p;
	struct pid_namespace *pns;
	bool alive;

	if (fd_empty(f))
		return -EBADF;
	p = pidfd_pid(fd_file(f));
	if (IS_ERR(p))
		return PTR_ERR(p);

	rcu_read_lock();
	alive = pid_task(p, PIDTYPE_PID) != NULL;
	rcu_read_unlock();
	if (!alive)
		return -ESRCH;

	pns = ns_of_pid(p);
	if (pns == &init_pid_ns)
		return -EINVAL;
	if (pid_nr_ns(p, pns) != 1)
		return -EINVAL;
	if (vtty_pid_ns_dead(pns))
		return -ESRCH;

	*pid = get_pid(p);
	*ns = get_pid_ns(pns);
	*host_pid = pid_nr(p);
	return 0;
}

void vtty_put_pid(struct pid *pid)
{
	put_pid(pid);
}

void vtty_put_pid_ns(struct pid_namespace *ns)
{
	put_pid_ns(ns);
}

u64 vtty_pid_ns_id(const struct pid_namespace *ns)
{
	return ns->ns.ns_id;
}

struct pid_namespace *vtty_pid_ns_parent(const struct pid_namespace *ns)
{
	return ns->parent;
}

/* The caller's active pid namespace; valid while the caller runs. */
struct pid_namespace *vtty_current_pid_ns(void)
{
	return task_active_pid_ns(current);
}

bool vtty_current_in_init_pid_ns(void)
{
	return task_active_pid_ns(current) == &init_pid_ns;
}

bool vtty_current_capable_sys_admin(void)
{
	return capable(CAP_SYS_ADMIN);
}

/* zap_pid_ns_processes() clears PIDNS_ADDING when the namespace's init exits. */
bool vtty_pid_ns_dead(const struct pid_namespace *ns)
{
	return !(READ_ONCE(ns->pid_allocated) & PIDNS_ADDING);
}

struct vtty_watch {
	struct wait_queue_entry entry;
	struct pid *pid;
	struct work_struct work;
	void *container;
};

/* Runs under the pid's wait queue lock, possibly with tasklist_lock held. */
static int vtty_watch_wake(struct wait_queue_entry *entry, unsigned int mode, int sync,
			   void *key)
{
	struct vtty_watch *watch = container_of(entry, struct vtty_watch, entry);

	queue_work(vtty_wq, &watch->work);
	return 0;
}

static void vtty_watch_work(struct work_struct *work)
{
	struct vtty_watch *watch = container_of(work, struct vtty_watch, work);

	vtty_rs_init_woken(watch->container);
}

struct vtty_watch *vtty_watch_create(struct pid *pid, void *container)
{
	struct vtty_watch *watch = kzalloc(sizeof(*watch), GFP_KERNEL);

	if (!watch)
		return NULL;
	init_waitqueue_func_entry(&watch->entry, vtty_watch_wake);
	INIT_WORK(&watch->work, vtty_watch_work);
	watch->pid = get_pid(pid);
	watch->container = container;
	add_wait_queue(&pid->wait_pidfd, &watch->entry);
	/* The init may have exited before the entry was on the queue. */
	queue_work(vtty_wq, &watch->work);
	return watch;
}

/*
 * May run from the watch's own work: a work function may free its work item, and
 * the non-waiting cancel removes an instance queued again meanwhile.
 */
void vtty_watch_destroy(struct vtty_watch *watch)
{
	remove_wait_queue(&watch->pid->wait_pidfd, &watch->entry);
	if (current_work() == &watch->work)
		cancel_work(&watch->work);
	else
		cancel_work_sync(&watch->work);
	put_pid(watch->pid);
	kfree(watch);
}

struct workqueue_struct *vtty_wq_create(void)
{
	vtty_wq = alloc_workqueue("vtty", WQ_UNBOUND, 0);
	return vtty_wq;
}

void vtty_wq_destroy(struct workqueue_struct *wq)
{
	destroy_workqueue(wq);
	vtty_wq = NULL;
}

/* ---- attach files ---- */

struct vtty_attach_file {
	void *attachment;
	struct vtty_port *vp;
	struct mutex write_lock;	/* one input producer at a time */
};

static ssize_t vtty_attach_read(struct file *file, char __user *ubuf, size_t count,
				loff_t *ppos)
{
	struct vtty_attach_file *af = file->private_data;
	size_t want = min_t(size_t, count, VTTY_ATTACH_CHUNK);
	ssize_t n;
	u8 *kbuf;

	if (!count)
		return 0;
	kbuf = kmalloc(want, GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	for (;;) {
		n = vtty_rs_attach_take(af->attachment, kbuf, want);
		if (n != -EAGAIN || (file->f_flags & O_NONBLOCK))
			break;
		if (wait_event_interruptible(af->vp->read_wait,
					     vtty_rs_attach_readable(af->attachment))) {
			n = -ERESTARTSYS;
			break;
		}
	}
	if (n > 0 && copy_to_user(ubuf, kbuf, n))
		n = -EFAULT;
	kfree(kbuf);
	return n;
}

/*
 * Feeds the container's input. While the container does not read, the writer
 * waits up to the attach's stall timeout for room, re-checking every
 * VTTY_INPUT_POLL_MS; after that the rest of the chunk is dropped and counted.
 */
static ssize_t vtty_attach_write(struct file *file, const char __user *ubuf, size_t count,
				 loff_t *ppos)
{
	struct vtty_attach_file *af = file->private_data;
	unsigned long timeout = msecs_to_jiffies(vtty_rs_attach_stall_timeout_ms(af->attachment));
	size_t done = 0;
	ssize_t err = 0;
	u8 *kbuf;

	if (!count)
		return 0;
	kbuf = kmalloc(min_t(size_t, count, VTTY_ATTACH_CHUNK), GFP_KERNEL);
	if (!kbuf)
		return -ENOMEM;
	if (mutex_lock_interruptible(&af->write_lock)) {
		kfree(kbuf);
		return -ERESTARTSYS;
	}
	while (done < count && !err) {
		size_t chunk = min_t(size_t, count - done, VTTY_ATTACH_CHUNK);
		unsigned long deadline = jiffies + timeout;
		size_t off = 0;

		if (copy_from_user(kbuf, ubuf + done, chunk)) {
			err = -EFAULT;
			break;
		}
		while (off < chunk) {
			ssize_t n = vtty_rs_attach_input(af->attachment, kbuf + off, chunk - off, false);
			long waited;

			if (n > 0) {
				off += n;
				deadline = jiffies + timeout;
				continue;
			}
			if (n != -EAGAIN) {
				err = n ? n : -EIO;
				break;
			}
			if (file->f_flags & O_NONBLOCK) {
				err = -EAGAIN;
				break;
			}
			if (time_after_eq(jiffies, deadline)) {
				vtty_rs_attach_input(af->attachment, kbuf + off, chunk - off, true);
				off = chunk;
				break;
			}
			waited = wait_event_interruptible_timeout(af->vp->input_wait,
					vtty_rs_attach_input_ready(af->attachment),
					msecs_to_jiffies(VTTY_INPUT_POLL_MS));
			if (waited < 0) {
				err = waited;
				break;
			}
		}
		done += off;
	}
	mutex_unlock(&af->write_lock);
	kfree(kbuf);
	return done ? done : err;
}

static __poll_t vtty_attach_poll(struct file *file, poll_table *wait)
{
	struct vtty_attach_file *af = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &af->vp->read_wait, wait);
	poll_wait(file, &af->vp->input_wait, wait);
	if (vtty_rs_attach_readable(af->attachment))
		mask |= EPOLLIN | EPOLLRDNORM;
	if (vtty_rs_attach_input_ready(af->attachment))
		mask |= EPOLLOUT | EPOLLWRNORM;
	return mask;
}

static long vtty_attach_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vtty_attach_file *af = file->private_data;
	struct vtty_winsize ws;

	if (cmd != VTTY_ATTACH_IOC_SETWINSZ)
		return -ENOTTY;
	if (copy_from_user(&ws, (void __user *)arg, sizeof(ws)))
		return -EFAULT;
	return vtty_rs_attach_resize(af->attachment, ws.rows, ws.cols);
}

static int vtty_attach_release(struct inode *inode, struct file *file)
{
	struct vtty_attach_file *af = file->private_data;

	vtty_rs_attach_release(af->attachment);
	kfree(af);
	return 0;
}

static const struct file_operations vtty_attach_fops = {
	.owner = THIS_MODULE,
	.read = vtty_attach_read,
	.write = vtty_attach_write,
	.poll = vtty_attach_poll,
	.unlocked_ioctl = vtty_attach_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.release = vtty_attach_release,
	.llseek = noop_llseek,
};

/*
 * Creates the attach file and its descriptor. Once the file exists it owns the
 * attachment (*owned is set): its release hands it back to Rust, also when
 * vtty_rs_attach_commit() refuses the attach.
 */
int vtty_attach_fd_create(void *attachment, struct vtty_port *vp, bool *owned)
{
	struct vtty_attach_file *af;
	struct file *file;
	int fd, err;

	*owned = false;
	af = kzalloc(sizeof(*af), GFP_KERNEL);
	if (!af)
		return -ENOMEM;
	af->attachment = attachment;
	af->vp = vp;
	mutex_init(&af->write_lock);

	fd = get_unused_fd_flags(O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		kfree(af);
		return fd;
	}
	file = anon_inode_getfile("[vtty]", &vtty_attach_fops, af, O_RDWR);
	if (IS_ERR(file)) {
		put_unused_fd(fd);
		kfree(af);
		return PTR_ERR(file);
	}
	*owned = true;
	err = vtty_rs_attach_commit(attachment);
	if (err) {
		put_unused_fd(fd);
		fput(file);
		return err;
	}
	fd_install(fd, file);
	return fd;
}

/* ---- debugfs ---- */

static int vtty_containers_show(struct seq_file *m, void *unused)
{
	vtty_rs_debugfs_show(m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vtty_containers);

void vtty_debugfs_create(void)
{
	vtty_debugfs_dir = debugfs_create_dir("vtty", NULL);
	debugfs_create_file("containers", 0400, vtty_debugfs_dir, NULL, &vtty_containers_fops);
}

void vtty_debugfs_remove(void)
{
	debugfs_remove_recursive(vtty_debugfs_dir);
	vtty_debugfs_dir = NULL;
}

/* ---- module references ---- */

bool vtty_module_get(void)
{
	return try_module_get(THIS_MODULE);
}

void vtty_module_put(void)
{
	module_put(THIS_MODULE);
}
