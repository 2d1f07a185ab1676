#!/usr/bin/env node
'use strict';
require('@oclif/core').execute({ dir: __dirname });
