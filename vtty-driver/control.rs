// SPDX-License-Identifier: GPL-2.0

//! The control device `/dev/vtty`: register, unregister, attach, hangup, list.

use kernel::fs::File;
use kernel::miscdevice::{MiscDevice, MiscDeviceRegistration};
use kernel::prelude::*;
use kernel::uaccess::{UserPtr, UserSlice};

use crate::abi::{self, VTTY_INDEX_ALL, VTTY_TERMINALS};
use crate::attach;
use crate::registry;
use crate::sys;

/// An open file of the control device; all state lives in the registry.
pub(crate) struct ControlFile;

#[vtable]
impl MiscDevice for ControlFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        Ok(KBox::pin(ControlFile, GFP_KERNEL)?)
    }

    fn ioctl(_me: Pin<&ControlFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // Only the host's administrator: a privileged process inside a container
        // has CAP_SYS_ADMIN in its own namespaces but is outside the initial pid
        // namespace.
        if !sys::current_in_init_pid_ns() || !sys::current_capable_sys_admin() {
            return Err(EPERM);
        }
        let user = UserPtr::from_addr(arg);
        match cmd {
            abi::VTTY_IOC_REGISTER => register(user),
            abi::VTTY_IOC_UNREGISTER => unregister(user),
            abi::VTTY_IOC_ATTACH => attach_ioctl(user),
            abi::VTTY_IOC_HANGUP => hangup(user),
            abi::VTTY_IOC_LIST => list(user),
            _ => Err(ENOTTY),
        }
    }
}

fn register(user: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<abi::vtty_register>();
    let mut arg: abi::vtty_register = UserSlice::new(user, size).reader().read()?;
    arg.nsid = registry::register(arg.pidfd, arg.flags, &arg.name)?;
    UserSlice::new(user, size).writer().write(&arg)?;
    Ok(0)
}

fn unregister(user: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<abi::vtty_container>();
    let arg: abi::vtty_container = UserSlice::new(user, size).reader().read()?;
    registry::unregister(arg.nsid)?;
    Ok(0)
}

fn attach_ioctl(user: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<abi::vtty_attach>();
    let arg: abi::vtty_attach = UserSlice::new(user, size).reader().read()?;
    if arg.flags & !abi::VTTY_ATTACH_FLAGS_ALL != 0 || arg.reserved != 0 || arg.index >= VTTY_TERMINALS {
        return Err(EINVAL);
    }
    let stall_timeout_ms = if arg.flags & abi::VTTY_ATTACH_STALL_TIMEOUT != 0 {
        arg.stall_timeout_ms
    } else {
        abi::VTTY_STALL_TIMEOUT_DEFAULT_MS
    };
    let takeover = arg.flags & abi::VTTY_ATTACH_TAKEOVER != 0;
    let fd = attach::open(arg.nsid, arg.index, takeover, stall_timeout_ms)?;
    Ok(fd as isize)
}

fn hangup(user: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<abi::vtty_hangup>();
    let arg: abi::vtty_hangup = UserSlice::new(user, size).reader().read()?;
    if arg.reserved != 0 || (arg.index != VTTY_INDEX_ALL && arg.index >= VTTY_TERMINALS) {
        return Err(EINVAL);
    }
    registry::hangup(arg.nsid, arg.index)?;
    Ok(0)
}

fn list(user: UserPtr) -> Result<isize> {
    let size = core::mem::size_of::<abi::vtty_list>();
    let mut arg: abi::vtty_list = UserSlice::new(user, size).reader().read()?;
    let (infos, count) = registry::list(arg.capacity as usize)?;
    let entry_size = core::mem::size_of::<abi::vtty_container_info>();
    let entries = UserPtr::from_addr(arg.entries as usize);
    let mut writer = UserSlice::new(entries, entry_size * infos.len()).writer();
    for info in infos.iter() {
        writer.write(info)?;
    }
    arg.count = u32::try_from(count).map_err(|_| EOVERFLOW)?;
    UserSlice::new(user, size).writer().write(&arg)?;
    Ok(0)
}
