//! The readiness policy of a load in progress: the model answers understanding calls as soon as
//! `core` + `understand` are in, and generates once `generate` is in too (shards may arrive in any
//! order). The browser binding feeds it fetched shards; a native test feeds it files.

use super::loader::Loader;
use super::manifest::{Group, Manifest};
use super::Result;
use crate::model::UniVid;
use burn::tensor::Device;
use serde::Serialize;

pub struct StreamingLoad {
    loader: Loader,
    device: Device,
    /// The model this load has made so far (understanding first, then with generation attached).
    model: Option<UniVid>,
}

/// Where a load stands, after each shard.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoadStatus {
    pub tensors_loaded: usize,
    pub tensors_total: usize,
    pub groups_ready: Vec<&'static str>,
    pub understand_ready: bool,
    pub generate_ready: bool,
}

impl StreamingLoad {
    /// Every decoded tensor goes to `device` at once (peak host memory: one shard plus one tensor).
    pub fn new(manifest: Manifest, device: Device) -> Self {
        Self { loader: Loader::streaming_to(manifest, device.clone()), device, model: None }
    }

    pub fn manifest(&self) -> &Manifest {
        self.loader.manifest()
    }

    /// Verifies and decodes shard `index` (a bad one changes nothing and can be sent again).
    /// Returns the model when this shard made it answer more than before: understanding, then
    /// generation; `None` otherwise.
    pub fn add_shard(&mut self, index: usize, bytes: &[u8]) -> Result<Option<UniVid>> {
        self.loader.add_shard(index, bytes)?;
        let mut upgraded = false;
        if self.model.is_none() && self.loader.group_ready(Group::Core) && self.loader.group_ready(Group::Understand) {
            let weights = self.loader.take(&[Group::Core, Group::Understand])?;
            let config = self.loader.manifest().model.clone();
            self.model = Some(UniVid::load_understanding(config, &weights, &self.device)?);
            upgraded = true;
        }
        if let Some(model) = self.model.as_mut().filter(|m| !m.can_generate()) {
            if self.loader.group_ready(Group::Generate) && !self.loader.taken(Group::Generate) {
                model.attach_generate(&self.loader.take(&[Group::Generate])?)?;
                upgraded = true;
            }
        }
        Ok(self.model.clone().filter(|_| upgraded))
    }

    pub fn status(&self) -> LoadStatus {
        let loader = &self.loader;
        LoadStatus {
            tensors_loaded: loader.tensors_decoded(),
            tensors_total: loader.manifest().tensors.len(),
            groups_ready: Group::ALL.iter().filter(|g| loader.group_ready(**g)).map(|g| g.name()).collect(),
            understand_ready: self.model.is_some(),
            generate_ready: self.model.as_ref().is_some_and(|m| m.can_generate()),
        }
    }
}
