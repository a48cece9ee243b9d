//! The key binding table. The key handler looks keys up here and the `?` help
//! popup is drawn from it, so the two cannot disagree.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Action of a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Select the previous row.
    Up,
    /// Select the next row.
    Down,
    /// Move the selection up by one screen.
    PageUp,
    /// Move the selection down by one screen.
    PageDown,
    /// Select the first row.
    First,
    /// Select the last row.
    Last,
    /// Open the selected container's terminals.
    Detail,
    /// Leave the detail view.
    Back,
    /// Sort by the next column.
    NextSort,
    /// Sort by the previous column.
    PreviousSort,
    /// Reverse the sort order.
    ReverseSort,
    /// Start editing the filter.
    Filter,
    /// Stop or resume refreshing.
    Pause,
    /// Ask to allow the selected container its consoles.
    Allow,
    /// Ask to deny the selected container its consoles.
    Deny,
    /// Open the help popup.
    Help,
    /// Exit the dashboard.
    Quit,
    /// Keep the filter and stop editing it.
    FilterAccept,
    /// Clear the filter and stop editing it.
    FilterClear,
    /// Delete the filter's last character.
    FilterBackspace,
    /// Run the change named in the confirmation.
    Confirm,
    /// Close the confirmation without changing anything.
    Cancel,
    /// Close the help popup.
    CloseHelp,
}

/// Part of the dashboard where a binding applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Anywhere, whatever is open.
    Global,
    /// The container list and the detail view.
    Views,
    /// The detail view only.
    Detail,
    /// While editing the filter; other printable keys are typed into it.
    Filter,
    /// While a confirmation is open.
    Confirm,
    /// While the help popup is open.
    Help,
}

impl Scope {
    /// Scopes in the order the help popup lists them.
    pub const ALL: [Self; 6] = [
        Self::Global,
        Self::Views,
        Self::Detail,
        Self::Filter,
        Self::Confirm,
        Self::Help,
    ];

    /// Heading of the scope in the help popup.
    pub fn heading(self) -> &'static str {
        match self {
            Self::Global => "Anywhere",
            Self::Views => "Container list and detail view",
            Self::Detail => "Detail view",
            Self::Filter => "Editing the filter (other keys are typed into it)",
            Self::Confirm => "Allow or deny confirmation",
            Self::Help => "This help",
        }
    }
}

/// A key with its modifiers, as the table spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Key {
    /// The key.
    pub code: KeyCode,
    /// Modifiers that must be held; Shift is implied by an upper-case character.
    pub modifiers: KeyModifiers,
}

impl Key {
    const fn plain(code: KeyCode) -> Self {
        Self {
            code,
            modifiers: KeyModifiers::NONE,
        }
    }

    const fn char(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    const fn ctrl(c: char) -> Self {
        Self {
            code: KeyCode::Char(c),
            modifiers: KeyModifiers::CONTROL,
        }
    }

    /// True when `event` is this key. Shift is ignored for characters, because
    /// terminals report `G` both with and without it.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        let mut modifiers = event.modifiers;
        if matches!(event.code, KeyCode::Char(_)) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        self.code == event.code && self.modifiers == modifiers
    }

    /// Returns the key's name in the help popup.
    pub fn label(&self) -> String {
        let name = match self.code {
            KeyCode::Char(' ') => "Space".to_owned(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Up => "↑".to_owned(),
            KeyCode::Down => "↓".to_owned(),
            KeyCode::Left => "←".to_owned(),
            KeyCode::Right => "→".to_owned(),
            KeyCode::PageUp => "PgUp".to_owned(),
            KeyCode::PageDown => "PgDn".to_owned(),
            KeyCode::Home => "Home".to_owned(),
            KeyCode::End => "End".to_owned(),
            KeyCode::Enter => "Enter".to_owned(),
            KeyCode::Esc => "Esc".to_owned(),
            KeyCode::Backspace => "Backspace".to_owned(),
            other => format!("{other:?}"),
        };
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            format!("Ctrl-{name}")
        } else {
            name
        }
    }
}

/// One row of the table: keys, the action, where it applies and its help text.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    /// Part of the dashboard where it applies.
    pub scope: Scope,
    /// Keys that trigger it.
    pub keys: &'static [Key],
    /// Action it triggers.
    pub action: Action,
    /// One line for the help popup.
    pub help: &'static str,
}

/// Every key binding of the dashboard.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    Binding { scope: Scope::Global, keys: &[Key::ctrl('c')], action: Action::Quit, help: "quit" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::Up), Key::char('k')], action: Action::Up, help: "select the previous row" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::Down), Key::char('j')], action: Action::Down, help: "select the next row" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::PageUp)], action: Action::PageUp, help: "move up one screen" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::PageDown)], action: Action::PageDown, help: "move down one screen" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::Home), Key::char('g')], action: Action::First, help: "select the first row" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::End), Key::char('G')], action: Action::Last, help: "select the last row" },
    Binding { scope: Scope::Views, keys: &[Key::plain(KeyCode::Enter), Key::plain(KeyCode::Right), Key::char('l')], action: Action::Detail, help: "show the selected container's 12 terminals" },
    Binding { scope: Scope::Detail, keys: &[Key::plain(KeyCode::Esc), Key::plain(KeyCode::Left), Key::char('h'), Key::plain(KeyCode::Backspace)], action: Action::Back, help: "back to the container list" },
    Binding { scope: Scope::Views, keys: &[Key::char('s'), Key::char('>')], action: Action::NextSort, help: "sort by the next column" },
    Binding { scope: Scope::Views, keys: &[Key::char('<')], action: Action::PreviousSort, help: "sort by the previous column" },
    Binding { scope: Scope::Views, keys: &[Key::char('r')], action: Action::ReverseSort, help: "reverse the sort order" },
    Binding { scope: Scope::Views, keys: &[Key::char('/')], action: Action::Filter, help: "filter containers by name or nsid" },
    Binding { scope: Scope::Views, keys: &[Key::char('p'), Key::char(' ')], action: Action::Pause, help: "pause or resume refreshing" },
    Binding { scope: Scope::Views, keys: &[Key::char('a')], action: Action::Allow, help: "allow the selected container its consoles (asks)" },
    Binding { scope: Scope::Views, keys: &[Key::char('d')], action: Action::Deny, help: "deny the selected container its consoles (asks)" },
    Binding { scope: Scope::Views, keys: &[Key::char('?')], action: Action::Help, help: "show this help" },
    Binding { scope: Scope::Views, keys: &[Key::char('q')], action: Action::Quit, help: "quit" },
    Binding { scope: Scope::Filter, keys: &[Key::plain(KeyCode::Enter)], action: Action::FilterAccept, help: "keep the filter" },
    Binding { scope: Scope::Filter, keys: &[Key::plain(KeyCode::Esc)], action: Action::FilterClear, help: "clear the filter" },
    Binding { scope: Scope::Filter, keys: &[Key::plain(KeyCode::Backspace)], action: Action::FilterBackspace, help: "delete the last character" },
    Binding { scope: Scope::Confirm, keys: &[Key::char('y'), Key::plain(KeyCode::Enter)], action: Action::Confirm, help: "yes, make the change" },
    Binding { scope: Scope::Confirm, keys: &[Key::char('n'), Key::plain(KeyCode::Esc)], action: Action::Cancel, help: "no, change nothing" },
    Binding { scope: Scope::Help, keys: &[Key::plain(KeyCode::Up), Key::char('k')], action: Action::Up, help: "scroll up" },
    Binding { scope: Scope::Help, keys: &[Key::plain(KeyCode::Down), Key::char('j')], action: Action::Down, help: "scroll down" },
    Binding { scope: Scope::Help, keys: &[Key::plain(KeyCode::Esc), Key::char('?'), Key::char('q')], action: Action::CloseHelp, help: "close this help" },
];

/// Finds the action of `event` among the bindings of `scopes`, in table order.
pub fn lookup(scopes: &[Scope], event: &KeyEvent) -> Option<Action> {
    BINDINGS
        .iter()
        .filter(|binding| scopes.contains(&binding.scope))
        .find(|binding| binding.keys.iter().any(|key| key.matches(event)))
        .map(|binding| binding.action)
}

/// Returns the keys of a binding as the help popup lists them.
pub fn keys_label(binding: &Binding) -> String {
    binding
        .keys
        .iter()
        .map(Key::label)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode, modifiers: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, modifiers)
    }

    #[test]
    fn shifted_character_matches() {
        let event = press(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(lookup(&[Scope::Views], &event), Some(Action::Last));
    }

    #[test]
    fn control_required_for_ctrl_c() {
        let plain = press(KeyCode::Char('c'), KeyModifiers::NONE);
        let ctrl = press(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(lookup(&[Scope::Global], &plain), None);
        assert_eq!(lookup(&[Scope::Global], &ctrl), Some(Action::Quit));
    }

    #[test]
    fn scopes_separate_same_key() {
        let esc = press(KeyCode::Esc, KeyModifiers::NONE);
        assert_eq!(lookup(&[Scope::Views], &esc), None);
        assert_eq!(lookup(&[Scope::Detail], &esc), Some(Action::Back));
        assert_eq!(lookup(&[Scope::Filter], &esc), Some(Action::FilterClear));
        assert_eq!(lookup(&[Scope::Confirm], &esc), Some(Action::Cancel));
    }

    #[test]
    fn no_key_bound_twice_in_scope() {
        for (i, first) in BINDINGS.iter().enumerate() {
            for second in &BINDINGS[i + 1..] {
                let overlapping = first.scope == second.scope
                    && first.keys.iter().any(|key| second.keys.contains(key));
                assert!(
                    !overlapping,
                    "{:?} and {:?} share a key",
                    first.action, second.action
                );
            }
        }
    }

    #[test]
    fn every_scope_listed_in_help() {
        for binding in BINDINGS {
            assert!(Scope::ALL.contains(&binding.scope), "{:?}", binding.scope);
        }
    }

    #[test]
    fn labels_readable() {
        assert_eq!(Key::ctrl('c').label(), "Ctrl-c");
        assert_eq!(keys_label(&BINDINGS[1]), "↑ k");
        assert_eq!(Key::char(' ').label(), "Space");
    }
}
