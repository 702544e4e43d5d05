// The dashboard's sync panel (hybrid and cloudflare backends): the replica's status, pause, resume and force.
// Loaded after app.js, whose helpers it uses; hidden on a local-only store.
'use strict';
