//! The room list: the one place that names every room. A room is a folder under `src/app/`
//! whose state implements [`Room`], and one line in the [`rooms!`] call below (its variant of
//! [`Workspace`], its field of [`Rooms`], its type). The shell iterates this list for the top
//! bar, the menus, persistence, launch settings, polling and applying.

use super::room::{Restore, Room, RoomCx, RoomInfo, Shared};

/// Declares the rooms: `Variant: field: Type,` each, in top-bar order (the first opens by
/// default).
macro_rules! rooms {
    ($($variant:ident: $field:ident: $ty:ty,)+) => {
        /// The app's rooms ("workspaces"), switched from the top bar.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum Workspace {
            $($variant,)+
        }

        impl Workspace {
            /// Every room, in top-bar order.
            pub const ALL: &'static [Workspace] = &[$(Workspace::$variant,)+];

            /// Name, label and help of the room.
            pub fn info(self) -> RoomInfo {
                match self {
                    $(Workspace::$variant => <$ty as Room>::info(),)+
                }
            }
        }

        /// Every room's state.
        pub struct Rooms {
            $(pub $field: $ty,)+
        }

        impl Rooms {
            /// The rooms as saved by the previous launch.
            pub fn restore(from: Restore<'_>) -> Self {
                Self {
                    $($field: <$ty as Room>::restore(from),)+
                }
            }

            /// Room `w`.
            pub fn get(&self, w: Workspace) -> &dyn Room {
                match w {
                    $(Workspace::$variant => &self.$field,)+
                }
            }

            /// Room `w`, mutable.
            pub fn get_mut(&mut self, w: Workspace) -> &mut dyn Room {
                match w {
                    $(Workspace::$variant => &mut self.$field,)+
                }
            }

            /// Every room, with its place in the list.
            pub fn each(&self) -> Vec<(Workspace, &dyn Room)> {
                vec![$((Workspace::$variant, &self.$field as &dyn Room),)+]
            }

            /// Every room, mutable.
            pub fn each_mut(&mut self) -> Vec<(Workspace, &mut dyn Room)> {
                let Self { $($field,)+ } = self;
                vec![$((Workspace::$variant, $field as &mut dyn Room),)+]
            }
        }
    };
}

rooms! {
    Explorer: explorer: super::explorer::Explorer,
    Gradients: gradients: super::gradients::GradientsWorkspace,
    Training: training: super::training::TrainingWorkspace,
    Experiments: experiments: super::experiments::Experiments,
}

impl Default for Workspace {
    fn default() -> Self {
        Self::ALL[0]
    }
}

impl Workspace {
    /// The name of `NODELAB_WORKSPACE`.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|w| w.name() == name)
    }

    /// The names, for error messages.
    pub fn names() -> String {
        Self::ALL
            .iter()
            .map(|w| w.name())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Rooms {
    /// Room `w`, mutable, with the shared services and the other rooms to read.
    pub fn with<R>(
        &mut self,
        w: Workspace,
        shared: &mut Shared,
        f: impl FnOnce(&mut dyn Room, &mut RoomCx<'_>) -> R,
    ) -> R {
        let mut this = None;
        let mut others: Vec<&dyn Room> = Vec::new();
        for (x, r) in self.each_mut() {
            if x == w {
                this = Some(r);
            } else {
                others.push(r);
            }
        }
        let Some(room) = this else {
            unreachable!("{w:?} is in the room list")
        };
        let mut cx = RoomCx::new(shared, others);
        f(room, &mut cx)
    }

    /// Runs `f` on every room in list order.
    pub fn for_each(
        &mut self,
        shared: &mut Shared,
        mut f: impl FnMut(&mut dyn Room, &mut RoomCx<'_>),
    ) {
        for &w in Workspace::ALL {
            self.with(w, shared, &mut f);
        }
    }

    /// The room whose state has type id `id`.
    pub fn find(&self, id: std::any::TypeId) -> Option<Workspace> {
        self.each()
            .into_iter()
            .find_map(|(w, r)| (r.as_any().type_id() == id).then_some(w))
    }
}
