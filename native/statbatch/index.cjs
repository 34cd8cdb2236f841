'use strict';
// The compiled addon (node-gyp builds it at install; see statbatch.c).
module.exports = require('./build/Release/statbatch.node');
