//! Many processes in several containers opening, writing, closing and hanging up,
//! with attach, detach, register and unregister in parallel, on a kernel with
//! lockdep: no warning, no leftover container, and the module unloads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use super::{control, kernel_problems, lifetime::MODULE_PATH};
use crate::container::Container;

/// How long the parallel load runs; a bound on the test, not a measurement.
const LOAD_TIME: Duration = Duration::from_secs(20);

pub fn stress_parallel_lifecycle() -> Result<()> {
    let problems_before = kernel_problems()?.len();
    let control = control()?;
    let containers: Vec<Container> = (0..3).map(|i| Container::start(&format!("stress{i}"))).collect::<Result<_>>()?;
    let mut nsids = Vec::new();
    for container in &containers {
        nsids.push(container.register(&control)?);
    }

    let mut workers = Vec::new();
    for container in &containers {
        for tty in ["console", "tty2", "tty3", "tty5"] {
            let script = format!(
                "end=$(( $(date +%s) + {} )); while [ $(date +%s) -lt $end ]; do \
                 echo load > /dev/{tty}; head -c 3000 /dev/zero > /dev/{tty}; done",
                LOAD_TIME.as_secs()
            );
            workers.push(container.spawn(&script)?);
        }
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for (i, &nsid) in nsids.iter().enumerate() {
        let stop = stop.clone();
        threads.push(std::thread::spawn(move || -> Result<u64> {
            let control = super::control()?;
            let mut rounds = 0;
            while !stop.load(Ordering::Relaxed) {
                let index = (rounds % 4) as u32;
                if let Ok(mut file) = control.attach(nsid, index, rounds % 3 == 0, Some(50)) {
                    let mut buf = [0u8; 512];
                    if super::wait_readable(&file, Duration::from_millis(20))? {
                        let _ = std::io::Read::read(&mut file, &mut buf);
                    }
                }
                if rounds % 7 == i as u64 {
                    let _ = control.hangup(nsid, Some(index));
                }
                rounds += 1;
            }
            Ok(rounds)
        }));
    }
    // Register and unregister a container of its own in parallel.
    let churn = Container::start("churn")?;
    let churn_stop = stop.clone();
    let churn_pidfd = churn.pidfd()?;
    let churn_thread = std::thread::spawn(move || -> Result<u64> {
        use std::os::fd::AsRawFd;
        let control = super::control()?;
        let mut rounds = 0;
        while !churn_stop.load(Ordering::Relaxed) {
            let nsid = control.register(churn_pidfd.as_raw_fd(), "churn").context("register churn")?;
            control.unregister(nsid).context("unregister churn")?;
            rounds += 1;
        }
        Ok(rounds)
    });

    let start = Instant::now();
    while start.elapsed() < LOAD_TIME {
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    for thread in threads {
        let rounds = thread.join().map_err(|_| anyhow::anyhow!("attach thread panicked"))??;
        ensure!(rounds > 0, "an attach thread made no progress");
    }
    let churn_rounds = churn_thread.join().map_err(|_| anyhow::anyhow!("churn thread panicked"))??;
    ensure!(churn_rounds > 0, "register/unregister made no progress");
    for mut worker in workers {
        let _ = worker.kill();
        let _ = worker.wait();
    }
    for container in containers {
        container.stop()?;
    }
    churn.stop()?;

    let deadline = Instant::now() + super::WATCHDOG;
    while !control.list()?.is_empty() {
        ensure!(Instant::now() < deadline, "containers left after all inits exited: {:?}", control.list()?);
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(control);
    let problems = kernel_problems()?;
    ensure!(problems.len() == problems_before, "kernel log reports problems: {:#?}", &problems[problems_before..]);

    let rmmod = std::process::Command::new("/bin/busybox").args(["rmmod", "vtty"]).output()?;
    ensure!(rmmod.status.success(), "rmmod vtty failed: {}", String::from_utf8_lossy(&rmmod.stderr));
    let insmod = std::process::Command::new("/bin/busybox").args(["insmod", MODULE_PATH]).output()?;
    ensure!(insmod.status.success(), "insmod {MODULE_PATH} failed: {}", String::from_utf8_lossy(&insmod.stderr));
    Ok(())
}
