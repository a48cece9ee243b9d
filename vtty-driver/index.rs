// SPDX-License-Identifier: GPL-2.0

//! Which terminal a container's open of a console or virtual terminal device
//! reaches.

use kernel::prelude::*;

use crate::abi::VTTY_TERMINALS;

/// Major number of `/dev/tty0..63` (`TTY_MAJOR`).
pub(crate) const TTY_MAJOR: u32 = 4;
/// Major number of `/dev/console` (`TTYAUX_MAJOR`, minor 1).
pub(crate) const TTYAUX_MAJOR: u32 = 5;
/// Minors of `TTY_MAJOR` that are virtual terminals; 64 and up are serial ports,
/// which the tty core never routes to the provider.
const VT_MINORS: u32 = 64;

/// Where an open of a device number by a task of a registered container goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// Terminal `index` of the container.
    Terminal(u32),
    /// A virtual terminal the container has no counterpart for: `ENODEV`.
    NoDevice,
    /// Not a console or virtual terminal device: the tty core handles it.
    NotOurs,
}

/// Splits a `dev_t` as the kernel encodes it (`MINORBITS` = 20).
pub(crate) fn split_dev(dev: u32) -> (u32, u32) {
    (dev >> 20, dev & ((1 << 20) - 1))
}

/// Maps a device number: `/dev/console` (5:1), `/dev/tty0` and `/dev/tty1` reach
/// index 0, `/dev/ttyN` (N = 2..12) reaches index N-1, and 4:13..63 fail.
pub(crate) fn route(major: u32, minor: u32) -> Route {
    match (major, minor) {
        (TTYAUX_MAJOR, 1) => Route::Terminal(0),
        (TTY_MAJOR, 0 | 1) => Route::Terminal(0),
        (TTY_MAJOR, n) if n <= VTTY_TERMINALS => Route::Terminal(n - 1),
        (TTY_MAJOR, n) if n < VT_MINORS => Route::NoDevice,
        _ => Route::NotOurs,
    }
}

#[kunit_tests(vtty_index)]
mod tests {
    use super::*;

    #[test]
    fn console_and_first_vts_reach_index_zero() {
        assert_eq!(route(5, 1), Route::Terminal(0));
        assert_eq!(route(4, 0), Route::Terminal(0));
        assert_eq!(route(4, 1), Route::Terminal(0));
    }

    #[test]
    fn vts_two_to_twelve_reach_distinct_indices() {
        for n in 2..=12 {
            assert_eq!(route(4, n), Route::Terminal(n - 1));
        }
    }

    #[test]
    fn vts_beyond_twelve_fail() {
        assert_eq!(route(4, 13), Route::NoDevice);
        assert_eq!(route(4, 63), Route::NoDevice);
    }

    #[test]
    fn other_devices_are_not_ours() {
        assert_eq!(route(4, 64), Route::NotOurs);
        assert_eq!(route(5, 0), Route::NotOurs);
        assert_eq!(route(5, 2), Route::NotOurs);
        assert_eq!(route(1, 3), Route::NotOurs);
    }

    #[test]
    fn dev_t_splits_into_major_and_minor() {
        assert_eq!(split_dev((5 << 20) | 1), (5, 1));
        assert_eq!(split_dev((4 << 20) | 12), (4, 12));
    }
}
